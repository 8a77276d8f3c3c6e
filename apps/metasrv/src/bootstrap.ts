import { RegionId, keyRange, type KeyRange } from '@regionstore/core';
import { type Logger } from '@regionstore/runtime';
import type { MetasrvClusterIdentity } from './cluster-identity';
import type { ClusterStore } from './cluster-store';
import type { NodeTaskClient } from './node-client';

/** Region ids of the bootstrap table. */
export const BOOTSTRAP_TABLE = 1;

/** `n` ranges splitting the key space evenly by first byte, or at the given split keys. */
export function initialRanges(n: number, splitKeys?: string[]): KeyRange[] {
  const bounds: Buffer[] = splitKeys
    ? [...new Set(splitKeys)].map((k) => Buffer.from(k)).sort(Buffer.compare)
    : Array.from({ length: n - 1 }, (_, i) => Buffer.from([Math.floor((256 * (i + 1)) / n)]));
  const edges = [Buffer.alloc(0), ...bounds, Buffer.alloc(0)];
  return edges.slice(0, -1).map((start, i) => keyRange(start, edges[i + 1]!));
}

/**
 * On an empty cluster with enough registered nodes, creates the initial regions round-robin over the
 * alive nodes, then records their routes. Safe to run again: creation is idempotent per region.
 */
export async function bootstrapCluster(options: {
  store: ClusterStore;
  nodes: NodeTaskClient;
  initialRegions: number;
  splitKeys?: string[];
  minNodes: number;
  logger: Logger;
  /** Mints the cluster's identity, or refuses to bootstrap over an existing cluster's object store. */
  identity?: Pick<MetasrvClusterIdentity, 'forBootstrap'>;
}): Promise<boolean> {
  const { store } = options;
  if ((await store.routes()).length > 0) return false;
  const record = options.identity ? await options.identity.forBootstrap() : undefined;
  if (options.identity && !record) return false;
  const alive = (await store.nodes()).filter((n) => n.alive);
  if (alive.length < options.minNodes) return false;
  const ranges = initialRanges(options.initialRegions, options.splitKeys);
  const epoch = { version: 1, confVer: 1 };
  await Promise.all(
    ranges.map(async (range, i) => {
      const regionId = new RegionId(BOOTSTRAP_TABLE, i);
      const leader = alive[i % alive.length]!;
      await options.nodes.call(
        leader.id,
        'create-region',
        { regionId, range, epoch },
        { jobId: `bootstrap-${regionId.toString()}` },
      );
      await store.put({ regionId, range, leader: leader.id, epoch, state: 'Normal' });
    }),
  );
  options.logger.info(
    { regions: ranges.length, nodes: alive.map((n) => n.id), cluster: record?.clusterId },
    'cluster bootstrapped',
  );
  return true;
}

import { InvalidConfigError, NotFoundError, type RegionId } from '@regionstore/core';
import type { LogStore } from '@regionstore/log-store';
import type { JobResult } from '@regionstore/protocol';
import { readObjectStoreRecord, type Logger } from '@regionstore/runtime';
import type { RegionRoute } from '@regionstore/supervisor';
import { latestManifest, listManifestRegions, manifestRange } from '@regionstore/region-files';
import type { MetasrvClusterIdentity } from './cluster-identity';
import type { ClusterStore } from './cluster-store';
import type { NodeTaskClient } from './node-client';
import { resolveRangeClaims } from './recovered-ranges';

type LocalRegion = JobResult<'local-regions'>['regions'][number];

/** What a recovery did for one region, and what of it is gone. */
export interface RecoveredRegionReport {
  regionId: string;
  leader: string;
  epoch: { version: number; confVer: number };
  /** The WAL entry the region's latest flush covers: everything up to it is back. */
  flushedEntryId: number;
  /** Where the WAL ends now (past the flush when Redis kept a tail of it). */
  walEntryId: number;
  /**
   * Entries acknowledged after that and now gone: `{from, to}` from the newest copy a running node
   * holds; `unknown` when no running node holds a copy (their number cannot be known); null for none.
   */
  lost: { from: number; to: number; entries: number } | 'unknown' | null;
}

export interface RecoveryReport {
  clusterId: string;
  regions: RecoveredRegionReport[];
  /** Regions whose metadata was intact (a recovery while Redis kept the cluster recovers only the rest). */
  intact: string[];
  /** Regions the object store names but cannot rebuild (a manifest from before ranges were kept). */
  unrecoverable: Array<{ regionId: string; reason: string }>;
  nodes: { asked: string[]; unreachable: string[] };
}

export interface ClusterRecoveryDeps {
  identity: MetasrvClusterIdentity;
  store: ClusterStore;
  nodes: NodeTaskClient;
  wal: Pick<LogStore, 'position' | 'restore'>;
  logger: Logger;
}

/**
 * Rebuilds a cluster's metadata in Redis from the object store (as PD's pd-recover and TiKV's Online
 * Unsafe Recovery do): the identity from `cluster.json`, each region's route from its latest manifest,
 * and its WAL as an empty log continuing after the entry that manifest covers, under a new
 * incarnation so no node continues from a copy applied from the lost log. Running nodes are asked what
 * they hold: the leader is the node with the newest placement of the region, and the entries their
 * copies applied past the flush are reported as lost. Redis is written in an order a rerun can finish:
 * WALs, then routes, then the identity last.
 */
export class ClusterRecovery {
  constructor(private readonly deps: ClusterRecoveryDeps) {}

  async recover(): Promise<RecoveryReport> {
    const { identity, store, wal, logger } = this.deps;
    const objects = identity.objects;
    if (!objects)
      throw new InvalidConfigError('a recovery reads the object store: set the metasrv’s snapshotStorage');
    const record = await readObjectStoreRecord(objects);
    if (!record)
      throw new NotFoundError(
        `${objects.url()} holds no cluster record (cluster.json): nothing to recover from`,
      );
    const inRedis = await identity.redis.read();
    if (inRedis && inRedis.clusterId !== record.clusterId) await identity.forBootstrap(); // throws the mismatch
    const held = await this.heldCopies();
    const alive = (await store.nodes()).filter((n) => n.alive).map((n) => n.id);
    const report: RecoveryReport = {
      clusterId: record.clusterId,
      regions: [],
      intact: [],
      unrecoverable: [],
      nodes: held.nodes,
    };
    const found = [];
    for (const regionId of await listManifestRegions(objects)) {
      const manifest = await latestManifest(objects, regionId);
      const range = manifest && manifestRange(manifest);
      if (!manifest || !range) {
        report.unrecoverable.push({
          regionId: regionId.toString(),
          reason: 'its latest manifest records no key range (written before recoveries existed)',
        });
        continue;
      }
      const route = await store.get(regionId);
      const position = await wal.position(regionId);
      // Split off by a split that was abandoned, or merged away: what is left of its flushes (a
      // delete that failed) is no region to bring back.
      if (position.retired) {
        logger.info({ regionId: regionId.toString() }, 'recovery skips a retired region');
        continue;
      }
      const copies = held.byRegion.get(regionId.value) ?? [];
      const ahead = copies.some((c) => (c.appliedIndex ?? 0) > position.lastEntryId);
      const intact = route !== undefined && position.lastEntryId >= manifest.walEntryId && !ahead;
      found.push({ regionId, manifest, route, position, copies, intact, range: route?.range ?? range });
    }
    // A route Redis kept (a region intact) outranks any manifest: one that overlaps it is a split's
    // child or a merge's target still in the works, not a region to recover over it.
    const verdicts = resolveRangeClaims(
      found.map(({ regionId, manifest, route, range, intact }) => ({
        regionId,
        range,
        version: intact ? Number.MAX_SAFE_INTEGER : (route ?? manifest).epoch.version,
      })),
    );
    const placed = new Map<string, number>();
    for (const { regionId, manifest, route, position, copies, intact } of found) {
      const verdict = verdicts.get(regionId.value)!;
      if (verdict.kind !== 'kept') {
        report.unrecoverable.push({
          regionId: regionId.toString(),
          reason: `regions ${verdict.by.map(String).join(', ')} hold ${verdict.kind === 'covered' ? 'all' : 'the middle'} of its range (a split or merge not finished when Redis lost it, or one running now)`,
        });
        continue;
      }
      const { range, clippedBy } = verdict;
      if (intact && clippedBy.length === 0) {
        report.intact.push(regionId.toString());
        continue;
      }
      if (clippedBy.length > 0)
        logger.warn(
          { regionId: regionId.toString(), range, newer: clippedBy.map(String) },
          'recovering a region over what newer regions do not hold: a split or merge Redis lost mid-way',
        );
      const walEntryId = Math.max(position.lastEntryId, manifest.walEntryId);
      const leader = this.chooseLeader(copies, manifest.nodeId, alive, placed) ?? route?.leader;
      if (!leader) {
        report.unrecoverable.push({ regionId: regionId.toString(), reason: 'no node is known to lead it' });
        continue;
      }
      placed.set(leader, (placed.get(leader) ?? 0) + 1);
      const epochs = [manifest.epoch, ...copies.map((c) => c.epoch), ...(route ? [route.epoch] : [])];
      // Clipped: its range changed, so its version moves on (a stale route for it is then refused).
      const epoch = {
        version: Math.max(...epochs.map((e) => e.version)) + (clippedBy.length > 0 ? 1 : 0),
        confVer: Math.max(...epochs.map((e) => e.confVer)) + 1,
      };
      // An open region keeps serving its old placement; closed, the leader reopens it from the manifest.
      await Promise.all(copies.map((c) => this.close(c.nodeId, regionId)));
      const ends = await wal.restore(regionId, walEntryId);
      await store.put({ regionId, range, leader, epoch, state: 'Normal' } satisfies RegionRoute);
      const newest = Math.max(0, ...copies.map((c) => c.appliedIndex ?? 0));
      report.regions.push({
        regionId: regionId.toString(),
        leader,
        epoch,
        flushedEntryId: manifest.walEntryId,
        walEntryId: ends,
        // Without a copy on a running node nobody can say how far the lost WAL went.
        lost:
          copies.length === 0
            ? 'unknown'
            : newest > ends
              ? { from: ends + 1, to: newest, entries: newest - ends }
              : null,
      });
    }
    await identity.redis.restore(record);
    identity.clearProblem();
    logger.warn(
      {
        cluster: record.clusterId,
        recovered: report.regions.length,
        lost: report.regions
          .filter((r) => r.lost !== null)
          .map((r) => ({ regionId: r.regionId, lost: r.lost })),
      },
      'cluster metadata recovered from the object store',
    );
    return report;
  }

  /** Each running node's local copies (any state but Tombstone), by region. */
  private async heldCopies(): Promise<{
    byRegion: Map<bigint, Array<LocalRegion & { nodeId: string }>>;
    nodes: { asked: string[]; unreachable: string[] };
  }> {
    const alive = (await this.deps.store.nodes()).filter((n) => n.alive).map((n) => n.id);
    const byRegion = new Map<bigint, Array<LocalRegion & { nodeId: string }>>();
    const unreachable: string[] = [];
    await Promise.all(
      alive.map(async (nodeId) => {
        try {
          const { regions } = await this.deps.nodes.call(nodeId, 'local-regions', {}, { timeoutMs: 10_000 });
          for (const region of regions.filter((r) => r.state !== 'Tombstone')) {
            const list = byRegion.get(region.regionId.value) ?? [];
            list.push({ ...region, nodeId });
            byRegion.set(region.regionId.value, list);
          }
        } catch (err) {
          this.deps.logger.warn({ nodeId, err }, 'node did not say what it holds');
          unreachable.push(nodeId);
        }
      }),
    );
    return { byRegion, nodes: { asked: alive, unreachable } };
  }

  /** The alive node with the newest placement of the region, else the one that flushed it, else the least loaded. */
  private chooseLeader(
    copies: Array<LocalRegion & { nodeId: string }>,
    flushedBy: string | undefined,
    alive: string[],
    placed: Map<string, number>,
  ): string | undefined {
    const newest = [...copies]
      .filter((c) => alive.includes(c.nodeId))
      .sort((a, b) => b.epoch.confVer - a.epoch.confVer || (b.appliedIndex ?? 0) - (a.appliedIndex ?? 0))[0];
    if (newest) return newest.nodeId;
    if (flushedBy && alive.includes(flushedBy)) return flushedBy;
    return [...alive].sort((a, b) => (placed.get(a) ?? 0) - (placed.get(b) ?? 0))[0] ?? flushedBy;
  }

  private async close(nodeId: string, regionId: RegionId): Promise<void> {
    await this.deps.nodes
      .call(nodeId, 'close-region', { regionId, destroy: false }, { timeoutMs: 10_000 })
      .catch((err: unknown) =>
        this.deps.logger.warn(
          { nodeId, regionId: regionId.toString(), err },
          'closing a region before recovery failed',
        ),
      );
  }
}

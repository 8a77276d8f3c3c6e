import { ClusterIdMismatchError } from '@regionstore/core';
import { listRegionLocalStates, readStoreIdent, writeStoreIdent, type KvEngine } from '@regionstore/engine';
import {
  checkSameCluster,
  nodeIdentityAction,
  readObjectStoreRecord,
  type Logger,
  type RedisClusterRecord,
} from '@regionstore/runtime';
import type { ExternalStorage } from '@regionstore/storage-backends';

export interface NodeIdentityDeps {
  nodeId: string;
  engine: KvEngine;
  /** The data dir, for messages. */
  dataDir: string;
  redis: RedisClusterRecord;
  objects: ExternalStorage;
  logger: Logger;
  now?: () => number;
}

/**
 * Which cluster this node's data belongs to. Checked once at start (a node that would serve another
 * cluster, or join an empty Redis with regions of its own, refuses to start); a node with no data and
 * no cluster yet binds on its first region task, after the metasrv minted the cluster's id. While the
 * node runs, `verify` tells whether Redis still knows the same cluster.
 */
export class NodeClusterIdentity {
  private constructor(
    private readonly deps: NodeIdentityDeps,
    private bound: string | undefined,
  ) {}

  /** The cluster id, once bound. */
  get clusterId(): string | undefined {
    return this.bound;
  }

  /** Runs the start check; throws ClusterIdMismatch (having changed nothing) when the node must not start. */
  static async establish(deps: NodeIdentityDeps): Promise<NodeClusterIdentity> {
    const [ident, states, inRedis, inObjects] = await Promise.all([
      readStoreIdent(deps.engine),
      listRegionLocalStates(deps.engine),
      deps.redis.read(),
      readObjectStoreRecord(deps.objects),
    ]);
    const regions = states.filter((s) => s.state !== 'Tombstone').length;
    const action = nodeIdentityAction({
      engine: { id: ident?.clusterId, where: `data dir ${deps.dataDir}`, regions },
      redis: { id: inRedis?.clusterId, where: deps.redis.where },
      objectStore: { id: inObjects?.clusterId, where: `object store ${deps.objects.url()}` },
    });
    const identity = new NodeClusterIdentity(deps, ident?.clusterId);
    if (action === 'adopt') await identity.write(inRedis!.clusterId, regions);
    return identity;
  }

  /** Binds an unbound node to the cluster Redis knows (before it creates or opens a region). */
  async bind(): Promise<string> {
    if (this.bound) return this.bound;
    const record = await this.deps.redis.read();
    if (!record) {
      throw new ClusterIdMismatchError(
        `${this.deps.redis.where} knows no cluster yet; node ${this.deps.nodeId} takes regions only of a bootstrapped cluster`,
        { redis: this.deps.redis.where },
      );
    }
    const inObjects = await readObjectStoreRecord(this.deps.objects);
    checkSameCluster([
      { id: record.clusterId, where: this.deps.redis.where },
      { id: inObjects?.clusterId, where: `object store ${this.deps.objects.url()}` },
    ]);
    await this.write(record.clusterId, 0);
    return record.clusterId;
  }

  /** Undefined while Redis knows this node's cluster; otherwise what is wrong. */
  async verify(): Promise<ClusterIdMismatchError | undefined> {
    if (!this.bound) return undefined;
    const record = await this.deps.redis.read();
    if (record?.clusterId === this.bound) return undefined;
    return new ClusterIdMismatchError(
      record
        ? `cluster ID mismatch: node ${this.deps.nodeId} belongs to cluster ${this.bound}, ${this.deps.redis.where} now to cluster ${record.clusterId}`
        : `${this.deps.redis.where} no longer knows cluster ${this.bound} (Redis lost its data?); node ${this.deps.nodeId} serves nothing until its metadata is back (regionctl cluster recover)`,
      { nodeCluster: this.bound, redisCluster: record?.clusterId ?? null },
    );
  }

  /**
   * Checks every `intervalMs` that Redis still knows the node's cluster, and logs each change: a Redis
   * that lost its data is said at once, not found out by the first failed write. Returns the stop.
   */
  watch(intervalMs: number): () => void {
    let reported: string | undefined;
    const timer = setInterval(() => {
      void this.verify().then(
        (problem) => {
          if (problem && problem.message !== reported)
            this.deps.logger.error({ err: problem }, problem.message);
          else if (!problem && reported)
            this.deps.logger.info({ cluster: this.bound }, 'Redis knows this node’s cluster again');
          reported = problem?.message;
        },
        () => undefined, // Redis unreachable: said by every other part of the node
      );
    }, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  private async write(clusterId: string, regions: number): Promise<void> {
    const now = this.deps.now ?? Date.now;
    await writeStoreIdent(this.deps.engine, { clusterId, nodeId: this.deps.nodeId, boundAtMs: now() });
    this.bound = clusterId;
    this.deps.logger.info(
      { cluster: clusterId, regions, dataDir: this.deps.dataDir },
      regions > 0 ? 'data dir adopted by the cluster Redis knows' : 'node bound to its cluster',
    );
  }
}

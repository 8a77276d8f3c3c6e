import { ClusterIdMismatchError, type ErrorBody } from '@regionstore/core';
import {
  checkSameCluster,
  mintClusterRecord,
  readObjectStoreRecord,
  writeObjectStoreRecord,
  type ClusterRecord,
  type Logger,
  type RedisClusterRecord,
} from '@regionstore/runtime';
import type { ExternalStorage } from '@regionstore/storage-backends';
import type { ClusterStore } from './cluster-store';

export interface ClusterIdentityStatus {
  clusterId: string | null;
  createdAtMs: number | null;
  /** Why the metasrv does not bootstrap or serve this cluster; null when nothing is wrong. */
  problem: ErrorBody | null;
}

/**
 * The metasrv's side of the cluster identity: checked at start (Redis and the object store must name
 * the same cluster), minted at bootstrap, and never minted over an object store that already holds a
 * cluster: that is a Redis that lost its data, and only `regionctl cluster recover` may rebuild it.
 */
export class MetasrvClusterIdentity {
  private problem: ClusterIdMismatchError | undefined;

  constructor(
    readonly redis: RedisClusterRecord,
    /** The cluster's object store (`snapshotStorage`); without it only Redis is consulted. */
    readonly objects: ExternalStorage | undefined,
    private readonly store: ClusterStore,
    private readonly logger: Logger,
  ) {}

  private get objectsWhere(): string {
    return `object store ${this.objects?.url() ?? '(none)'}`;
  }

  /** Refuses (ClusterIdMismatch) Redis and an object store of two clusters; names a cluster from before identities. */
  async checkAtStart(): Promise<void> {
    const [inRedis, inObjects] = await this.read();
    if (inRedis) {
      if (this.objects && !inObjects) await writeObjectStoreRecord(this.objects, inRedis);
      return;
    }
    // Routes without an identity: a cluster from before identities, or a recovery that stopped before
    // its last step. Either way the cluster is the object store's, or a new id for an older cluster.
    if ((await this.store.routes()).length === 0) return;
    const record = await this.redis.claim(inObjects ?? mintClusterRecord());
    if (this.objects && !inObjects) await writeObjectStoreRecord(this.objects, record);
    this.logger.warn({ cluster: record.clusterId }, 'cluster had routes but no identity; it is now recorded');
  }

  /**
   * The record to bootstrap under (minted now when neither Redis nor the object store has one), or
   * undefined when bootstrapping would start a new cluster over an existing one's data.
   */
  async forBootstrap(): Promise<ClusterRecord | undefined> {
    const [inRedis, inObjects] = await this.read();
    if (inRedis) {
      if (this.objects && !inObjects) await writeObjectStoreRecord(this.objects, inRedis);
      this.clearProblem();
      return inRedis;
    }
    if (inObjects) {
      this.refuse(
        new ClusterIdMismatchError(
          `${this.objectsWhere} holds cluster ${inObjects.clusterId} (created ${new Date(inObjects.createdAtMs).toISOString()}), ` +
            `but ${this.redis.where} knows no cluster: Redis lost its data, or REDIS_URL or the key prefix points elsewhere. ` +
            'Not bootstrapping a new cluster over it. Point every process at the cluster’s Redis, or rebuild the metadata from the object store with `regionctl cluster recover`.',
          { objectStoreCluster: inObjects.clusterId, redis: this.redis.where },
        ),
      );
      return undefined;
    }
    const record = mintClusterRecord();
    // The object store first: from here on no other Redis can bootstrap over this cluster's data.
    if (this.objects) await writeObjectStoreRecord(this.objects, record);
    const kept = await this.redis.claim(record);
    this.clearProblem();
    this.logger.info({ cluster: kept.clusterId }, 'cluster identity minted');
    return kept;
  }

  async status(): Promise<ClusterIdentityStatus> {
    const record = await this.redis.read();
    return {
      clusterId: record?.clusterId ?? null,
      createdAtMs: record?.createdAtMs ?? null,
      problem: this.problem?.toJSON() ?? null,
    };
  }

  /** The refusal in force, if any (readiness shows it). */
  get refusal(): ClusterIdMismatchError | undefined {
    return this.problem;
  }

  clearProblem(): void {
    this.problem = undefined;
  }

  private async read(): Promise<[ClusterRecord | undefined, ClusterRecord | undefined]> {
    const [inRedis, inObjects] = await Promise.all([
      this.redis.read(),
      this.objects ? readObjectStoreRecord(this.objects) : Promise.resolve(undefined),
    ]);
    checkSameCluster([
      { id: inRedis?.clusterId, where: this.redis.where },
      { id: inObjects?.clusterId, where: this.objectsWhere },
    ]);
    return [inRedis, inObjects];
  }

  private refuse(problem: ClusterIdMismatchError): void {
    if (this.problem?.message !== problem.message) this.logger.error({ err: problem }, problem.message);
    this.problem = problem;
  }
}

import type { RegionId } from '@regionstore/core';
import type { Counter, Logger, Registry, RedisClient } from '@regionstore/runtime';
import type { RegionRoute, SupervisorService } from '@regionstore/supervisor';
import type { Queue } from 'bullmq';
import { bootstrapCluster } from './bootstrap';
import type { MetasrvClusterIdentity } from './cluster-identity';
import type { ClusterStore } from './cluster-store';
import type { GcSafePoints } from './gc-safe-points';
import type { MetasrvConfig } from './config';
import { HeartbeatIntake } from './heartbeat-intake';
import { consumeHeartbeats, type HeartbeatConsumer } from './heartbeat-worker';
import { LeaderLease } from './leader-lease';
import type { NodeTaskClient } from './node-client';
import type { Operations, OperationRecord } from './operation-records';
import { metasrvMetrics } from './metasrv-metrics';
import type { RegionLeaseGrants } from './region-leases';

export interface LeadershipDeps {
  config: MetasrvConfig;
  redis: RedisClient;
  leaderKey: string;
  instanceId: string;
  store: ClusterStore;
  supervisor: SupervisorService;
  nodes: NodeTaskClient;
  leases: RegionLeaseGrants;
  /** Guards the bootstrap (absent in an assembly without the identity plugin: no guard). */
  identity?: MetasrvClusterIdentity | undefined;
  /** Whether a region's WAL was retired (see HeartbeatIntakeDeps; absent: routeless copies stay). */
  walRetired?: ((regionId: RegionId) => Promise<boolean>) | undefined;
  /** The GC safepoint the leader moves and hands to nodes (absent in an assembly without GC). */
  gc?: GcSafePoints | undefined;
  /** Records of operations only a leader runs; a new leader fails the ones its predecessor left. */
  operations: readonly Operations<OperationRecord>[];
  /** Queues whose depth the metrics show. */
  queues: () => Queue[];
  metrics: Registry;
  logger: Logger;
}

/**
 * What only the metasrv leader does, started when it wins the lease and stopped the moment it loses
 * it: consume heartbeats (so exactly one supervisor sees them), watch every placed region, bootstrap
 * an empty cluster, resume the supervisor's procedures, fail orphaned operations, move the GC safepoint. Its metrics (leader,
 * nodes, regions and phi per node, queue depths, leader changes) are read on every instance.
 */
export class Leadership {
  readonly lease: LeaderLease;
  private readonly intake: HeartbeatIntake;
  private readonly leaderChanges: Counter<'change'>;
  private heartbeatWorker: HeartbeatConsumer | undefined;
  private bootstrapTimer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: LeadershipDeps) {
    const { config, store, supervisor, nodes, leases, logger } = deps;
    this.intake = new HeartbeatIntake({
      store,
      supervisor,
      nodes,
      leases,
      identity: async () => (await deps.identity?.redis.read())?.clusterId,
      ...(deps.walRetired ? { walRetired: deps.walRetired } : {}),
      ...(deps.gc ? { gcSafePoint: () => deps.gc!.current, nodeClocks: deps.gc.nodeClocks } : {}),
      logger: logger.child({ component: 'heartbeats' }),
      repairIntervalMs: config.repairIntervalMs,
    });
    this.lease = new LeaderLease(
      deps.redis,
      deps.leaderKey,
      deps.instanceId,
      config.leaseMs,
      { onElected: () => this.onElected(), onLost: () => this.onLost() },
      logger,
    );
    this.leaderChanges = metasrvMetrics(deps.metrics, {
      store,
      isLeader: () => this.isLeader,
      phiByNode: () => supervisor.control.phiByNode(Date.now()),
      queues: deps.queues,
    }).leaderChanges;
  }

  get isLeader(): boolean {
    return this.lease.isLeader;
  }

  /** The instance holding the lease now, if any (this one or another). */
  leaderId(): Promise<string | null> {
    return this.deps.redis.get(this.deps.leaderKey);
  }

  start(): void {
    this.lease.start();
  }

  /** Gives the lease up, stopping the leader work first. */
  stop(): Promise<void> {
    return this.lease.stop();
  }

  private async onElected(): Promise<void> {
    const { config, store, supervisor, nodes, leases, logger } = this.deps;
    this.leaderChanges.inc({ change: 'won' });
    leases.onElected();
    // Grants carry the safepoint from the first heartbeat on: a node that just started knows no other.
    await this.deps.gc?.load();
    // Procedures left running resume first, so no heartbeat repairs a region one of them is moving.
    await supervisor.onLeaderStart();
    this.heartbeatWorker = consumeHeartbeats(config, this.intake, nodes, logger);
    // A leader that dies before its first heartbeat must still be detected: watch every placed region
    // from the moment it is placed (now, for the routes we inherit; on every route change later), and
    // stop watching it on the nodes that no longer lead it.
    const watch = async (routes: RegionRoute[]) => {
      const placed = routes.filter((r) => r.state === 'Normal');
      const known = await store.nodes();
      await supervisor.control.deregisterFailureDetectors(
        placed.flatMap((r) =>
          known.filter((n) => n.id !== r.leader).map((n) => ({ nodeId: n.id, regionId: r.regionId })),
        ),
      );
      await supervisor.control.registerFailureDetectors(
        placed.map((r) => ({ nodeId: r.leader, regionId: r.regionId })),
      );
    };
    store.onRouteWritten = (route) =>
      void watch([route]).catch((err: unknown) => logger.warn({ err }, 'watching a moved region failed'));
    await watch(await store.routes());
    this.bootstrap();
    this.deps.gc?.start();
    // A backup or restore its previous leader was running will not finish: say so.
    for (const operations of this.deps.operations) {
      const orphans = await operations.failOrphans();
      if (orphans.length > 0) logger.warn({ orphans }, 'marked interrupted operations failed');
    }
  }

  private bootstrap(): void {
    const { config, store, nodes, logger } = this.deps;
    void bootstrapCluster({
      store,
      ...(this.deps.identity ? { identity: this.deps.identity } : {}),
      nodes,
      initialRegions: config.initialRegions,
      ...(config.splitKeys ? { splitKeys: config.splitKeys } : {}),
      minNodes: config.bootstrapNodes,
      logger,
    })
      .then((done) => {
        if (!done && this.isLeader) this.bootstrapTimer = setTimeout(() => this.bootstrap(), 500);
      })
      .catch((err: unknown) => {
        logger.warn({ err }, 'bootstrap failed; retrying');
        if (this.isLeader) this.bootstrapTimer = setTimeout(() => this.bootstrap(), 1000);
      });
  }

  private async onLost(): Promise<void> {
    this.leaderChanges.inc({ change: 'lost' });
    clearTimeout(this.bootstrapTimer);
    this.deps.gc?.stop();
    this.deps.store.onRouteWritten = undefined;
    await this.deps.supervisor.onLeaderStop();
    const worker = this.heartbeatWorker;
    this.heartbeatWorker = undefined;
    await worker?.close();
  }
}

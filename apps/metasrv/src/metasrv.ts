import 'reflect-metadata';
import { hostname } from 'node:os';
import {
  PluginHost,
  TOKENS,
  createMetricsRegistry,
  createRedis,
  describeRedisTarget,
  redisTarget,
  checkEvictionPolicy,
  waitForRedis,
  type Counter,
  type Logger,
  type RedisClient,
} from '@regionstore/runtime';
import { RedisLogStore } from '@regionstore/log-store';
import { defaultAllowedStorage } from '@regionstore/storage-backends';
import { QueueNames, clusterKey, metasrvLeaderKey } from '@regionstore/protocol';
import {
  SUPERVISOR,
  SUPERVISOR_PORTS,
  supervisorPlugin,
  type RegionRoute,
  type SupervisorPorts,
  type SupervisorService,
} from '@regionstore/supervisor';
import { container as root } from 'tsyringe';
import { Queue, type Worker } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { buildAdminApi } from './admin-api';
import { bootstrapCluster } from './bootstrap';
import { ClusterBackup, type BackupRecord } from './cluster-backup';
import { ClusterRestore, type RestoreRecord } from './cluster-restore';
import { Operations, type OperationRecord } from './operation-records';
import { ClusterStore } from './cluster-store';
import type { MetasrvConfig } from './config';
import { HeartbeatIntake } from './heartbeat-intake';
import { consumeHeartbeats } from './heartbeat-worker';
import { metasrvMetrics } from './metasrv-metrics';
import { LeaderLease } from './leader-lease';
import { NodeTaskClient } from './node-client';
import { RegionLeaseGrants } from './region-leases';

/**
 * The metasrv: every instance serves the admin API and campaigns for the leader lease; the leader
 * consumes heartbeats (so exactly one supervisor sees them), bootstraps an empty cluster, ticks the
 * supervisor and runs migration procedures. Losing the lease stops all of that at once; a standby that
 * wins it resumes the procedures left running.
 */
export class Metasrv {
  private heartbeatWorker: Worker | undefined;
  private bootstrapTimer: NodeJS.Timeout | undefined;
  private leaderChanges: Counter<'change'> | undefined;

  private constructor(
    readonly config: MetasrvConfig,
    readonly lease: LeaderLease,
    readonly store: ClusterStore,
    readonly supervisor: SupervisorService,
    /** Starts and stops the metasrv's plugins (the supervisor). */
    private readonly host: PluginHost<MetasrvConfig>,
    readonly nodes: NodeTaskClient,
    readonly leases: RegionLeaseGrants,
    private readonly intake: HeartbeatIntake,
    private readonly redis: RedisClient,
    private readonly metasrvQueue: Queue,
    private readonly logger: Logger,
    private http: FastifyInstance | undefined,
  ) {}

  get address(): string {
    const bound = this.http?.server.address();
    const port = typeof bound === 'object' && bound ? bound.port : this.config.http.port;
    return `http://${this.config.http.host}:${port}`;
  }

  static async start(config: MetasrvConfig, logger: Logger): Promise<Metasrv> {
    const target = redisTarget(config);
    const redis = createRedis(target, 'client');
    await waitForRedis(redis, 10_000);
    await checkEvictionPolicy(redis, logger);
    const names = new QueueNames(config.keyPrefix);
    const store = new ClusterStore(redis, config.keyPrefix, config.nodeDeadAfterMs, () => Date.now());
    const nodes = new NodeTaskClient(target, names, config.taskTimeoutMs);
    const instanceId = config.instanceId ?? `${hostname()}-${process.pid}`;
    const leases = new RegionLeaseGrants(
      redis,
      config.keyPrefix,
      instanceId,
      config.regionLeaseMs,
      config.leaseMarginMs,
    );
    const metrics = createMetricsRegistry({ labels: { metasrv: instanceId } });
    // The supervisor is a plugin, as the storage node's components are: the metasrv binds its ports.
    const container = root.createChildContainer();
    container.register(TOKENS.Logger, { useValue: logger });
    container.register(TOKENS.Metrics, { useValue: metrics });
    const ports: SupervisorPorts = {
      redis,
      routes: store,
      nodes,
      fences: new RedisLogStore(redis, { prefix: config.keyPrefix }),
      peers: store,
      candidates: () => store.candidates(),
      allRoutes: () => store.routes(),
      leases,
    };
    container.register(SUPERVISOR_PORTS, { useValue: ports });
    const host = new PluginHost<MetasrvConfig>(container, config, { logger });
    await host.register(supervisorPlugin);
    await host.start();
    const supervisor = container.resolve<SupervisorService>(SUPERVISOR);
    const metasrvQueue = new Queue(names.metasrv, {
      connection: createRedis(target, 'worker'),
      prefix: names.bullmqPrefix,
    });
    const operations = <R extends OperationRecord>(kind: string) =>
      new Operations<R>(redis, clusterKey(config.keyPrefix, 'meta', kind), logger, config.operationRecords);
    const backups = new ClusterBackup(operations<BackupRecord>('backups'), store, nodes);
    const restores = new ClusterRestore(operations<RestoreRecord>('restores'), store, nodes);
    // The lease calls back into the metasrv, which holds the lease: tie the knot through a holder.
    const self: { metasrv?: Metasrv } = {};
    const lease = new LeaderLease(
      redis,
      metasrvLeaderKey(config.keyPrefix),
      instanceId,
      config.leaseMs,
      {
        onElected: async () => {
          await self.metasrv!.onElected();
          // A backup or restore its previous leader was running will not finish: say so.
          for (const operations of [backups.operations, restores.operations]) {
            const orphans = await operations.failOrphans();
            if (orphans.length > 0) logger.warn({ orphans }, 'marked interrupted operations failed');
          }
        },
        onLost: () => self.metasrv!.onLost(),
      },
      logger,
    );
    const metasrv = new Metasrv(
      config,
      lease,
      store,
      supervisor,
      host,
      nodes,
      leases,
      new HeartbeatIntake({
        store,
        supervisor,
        nodes,
        leases,
        logger: logger.child({ component: 'heartbeats' }),
        repairIntervalMs: config.repairIntervalMs,
      }),
      redis,
      metasrvQueue,
      logger,
      undefined,
    );
    self.metasrv = metasrv;
    metasrv.http = await buildAdminApi({
      store,
      supervisor,
      backups,
      restores,
      metrics,
      adminToken: config.adminToken,
      boardReadOnly: config.boardReadOnly,
      allowedStorage: config.backup.allowedStorage ?? defaultAllowedStorage(config.snapshotStorage),
      logger: logger.child({ component: 'http' }),
      isLeader: () => lease.isLeader,
      leaderId: () => redis.get(metasrvLeaderKey(config.keyPrefix)),
      queues: () => [metasrvQueue, ...nodes.openQueues],
      phiByNode: () => supervisor.control.phiByNode(Date.now()),
    });
    metasrv.leaderChanges = metasrvMetrics(metrics, {
      store,
      isLeader: () => lease.isLeader,
      phiByNode: () => supervisor.control.phiByNode(Date.now()),
      queues: () => [metasrvQueue, ...nodes.openQueues],
    }).leaderChanges;
    await metasrv.http.listen({ host: config.http.host, port: config.http.port });
    lease.start();
    logger.info(
      { instance: instanceId, address: metasrv.address, redis: describeRedisTarget(target) },
      'metasrv started',
    );
    return metasrv;
  }

  private async onElected(): Promise<void> {
    this.leaderChanges?.inc({ change: 'won' });
    this.leases.onElected();
    // Procedures left running resume first, so no heartbeat repairs a region one of them is moving.
    await this.supervisor.onLeaderStart();
    this.heartbeatWorker = consumeHeartbeats(this.config, this.intake, this.nodes, this.logger);
    // A leader that dies before its first heartbeat must still be detected: watch every placed region
    // from the moment it is placed (now, for the routes we inherit; on every route change later), and
    // stop watching it on the nodes that no longer lead it.
    const watch = async (routes: RegionRoute[]) => {
      const placed = routes.filter((r) => r.state === 'Normal');
      const nodes = await this.store.nodes();
      await this.supervisor.control.deregisterFailureDetectors(
        placed.flatMap((r) =>
          nodes.filter((n) => n.id !== r.leader).map((n) => ({ nodeId: n.id, regionId: r.regionId })),
        ),
      );
      await this.supervisor.control.registerFailureDetectors(
        placed.map((r) => ({ nodeId: r.leader, regionId: r.regionId })),
      );
    };
    this.store.onRouteWritten = (route) =>
      void watch([route]).catch((err: unknown) =>
        this.logger.warn({ err }, 'watching a moved region failed'),
      );
    await watch(await this.store.routes());
    const tryBootstrap = () => {
      void bootstrapCluster({
        store: this.store,
        nodes: this.nodes,
        initialRegions: this.config.initialRegions,
        ...(this.config.splitKeys ? { splitKeys: this.config.splitKeys } : {}),
        minNodes: this.config.bootstrapNodes,
        logger: this.logger,
      })
        .then((done) => {
          if (!done && this.lease.isLeader) this.bootstrapTimer = setTimeout(tryBootstrap, 500);
        })
        .catch((err: unknown) => {
          this.logger.warn({ err }, 'bootstrap failed; retrying');
          if (this.lease.isLeader) this.bootstrapTimer = setTimeout(tryBootstrap, 1000);
        });
    };
    tryBootstrap();
  }

  private async onLost(): Promise<void> {
    this.leaderChanges?.inc({ change: 'lost' });
    clearTimeout(this.bootstrapTimer);
    this.store.onRouteWritten = undefined;
    await this.supervisor.onLeaderStop();
    const worker = this.heartbeatWorker;
    this.heartbeatWorker = undefined;
    await worker?.close(true);
  }

  async stop(): Promise<void> {
    await this.lease.stop();
    await this.http?.close();
    await this.host.stop();
    await this.nodes.close();
    await this.metasrvQueue.close().catch(() => undefined);
    this.redis.disconnect();
    this.logger.info('metasrv stopped');
  }
}

import 'reflect-metadata';
import { RealTimeProvider } from '@regionstore/core';
import {
  PluginHost,
  TOKENS,
  checkEvictionPolicy,
  createMetricsRegistry,
  gauge,
  createRedis,
  describeRedisTarget,
  redisTarget,
  waitForRedis,
  type Logger,
  type RedisClient,
} from '@regionstore/runtime';
import {
  BACKUP_ENDPOINT,
  REGION_INFO_PROVIDER,
  backupConfigSchema,
  backupPlugin,
  type BackupEndpoint,
} from '@regionstore/backup';
import { RocksEngine } from '@regionstore/engine';
import { checkWalDurability, logStorePlugin, type DurabilityReport } from '@regionstore/log-store';
import { QueueNames, leaseGrantKey, leaseGrantSchema } from '@regionstore/protocol';
import { REGION_RUNNER, regionRunnerPlugin, type RegionRunner } from '@regionstore/region-runner';
import { createStorage, defaultAllowedStorage } from '@regionstore/storage-backends';
import { WORKER_GROUP, workerGroupPlugin, type WorkerGroup } from '@regionstore/worker-group';
import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { container as root } from 'tsyringe';
import { checkApiExposure, type StorageNodeConfig } from './config';
import { HeartbeatLoop, buildHeartbeat } from './heartbeat';
import { buildDataApi } from './http-api';
import { RegionReader } from './reads';
import { RegionLeases } from './region-leases';
import { WorkerGroupRegionInfo } from './region-info';
import { NodeTaskWorker } from './task-worker';

type NodePluginConfig = StorageNodeConfig & { nodeId: string; keyPrefix: string };

/**
 * One storage node: RocksDB engine, WAL on Redis, region runner, worker group and backup endpoint
 * (as plugins), the data-plane HTTP API, the task worker on `node-<id>`, and heartbeats to the
 * metasrv. `stop` goes in the order that loses nothing: heartbeats and task intake, HTTP, the plugins
 * (worker group → runner → WAL connection), then the engine.
 */
export class StorageNode {
  private ready = false;

  private constructor(
    readonly config: StorageNodeConfig,
    readonly address: string,
    private readonly engine: RocksEngine,
    private readonly host: PluginHost<NodePluginConfig>,
    private readonly http: FastifyInstance,
    private readonly tasks: NodeTaskWorker,
    private readonly heartbeats: HeartbeatLoop,
    private readonly heartbeatQueue: Queue,
    /** The heartbeat queue's connection and the lease reads' one. */
    private readonly connections: readonly RedisClient[],
    private readonly logger: Logger,
  ) {}

  get group(): WorkerGroup {
    return this.host.container.resolve<WorkerGroup>(WORKER_GROUP);
  }

  static async start(config: StorageNodeConfig, logger: Logger): Promise<StorageNode> {
    checkApiExposure(config);
    const target = redisTarget(config);
    const probe = createRedis(target, 'client');
    let durability: DurabilityReport;
    try {
      await waitForRedis(probe, 10_000);
      if (config.wal.configCheck === 'config') await checkEvictionPolicy(probe, logger);
      durability = await checkWalDurability(probe, config.wal, logger);
    } finally {
      probe.disconnect();
    }
    const container = root.createChildContainer();
    const time = new RealTimeProvider();
    const metrics = createMetricsRegistry({ labels: { node: config.nodeId } });
    const engine = await RocksEngine.open({ path: config.dataDir, ...config.engine });
    container.register(TOKENS.Engine, { useValue: engine });
    gauge(metrics, {
      component: 'engine',
      what: 'memory',
      unit: 'bytes',
      help: "RocksDB's memory by kind (memtables, table_readers, block_cache), summed over column families",
      labelNames: ['kind'],
      collect: async (g) => {
        const usage = await engine.memoryUsage();
        g.set({ kind: 'memtables' }, usage.memtables);
        g.set({ kind: 'table_readers' }, usage.tableReaders);
        g.set({ kind: 'block_cache' }, usage.blockCache);
      },
    });
    gauge(metrics, {
      component: 'log_store',
      what: 'durability',
      unit: 'info',
      help: 'The WAL durability mode, and whether Redis was seen to keep its promise (verified="false": unsafe or unchecked)',
      labelNames: ['mode', 'verified'],
    }).set({ mode: durability.mode, verified: String(durability.verified) }, 1);
    container.register(TOKENS.SnapshotStorage, { useValue: createStorage(config.snapshotStorage) });
    container.register(TOKENS.Logger, { useValue: logger });
    container.register(TOKENS.Metrics, { useValue: metrics });
    container.register(TOKENS.TimeProvider, { useValue: time });
    const group = () => container.resolve<WorkerGroup>(WORKER_GROUP);
    container.register(REGION_INFO_PROVIDER, { useValue: new WorkerGroupRegionInfo(group) });

    const host = new PluginHost<NodePluginConfig>(container, config, { logger });
    await host.register(logStorePlugin, regionRunnerPlugin, workerGroupPlugin, backupPlugin);
    try {
      await host.start();
    } catch (err) {
      await engine.close();
      throw err;
    }

    const leases = new RegionLeases();
    const reader = new RegionReader(group, engine, config.nodeId, leases);
    // The API starts before the node object exists (its address is part of the node); /ready waits.
    const started: { node?: StorageNode } = {};
    const http = buildDataApi({
      group,
      reader,
      metrics,
      isReady: () => started.node?.ready ?? false,
      durability,
      bodyLimitBytes: config.http.bodyLimitBytes,
      apiToken: config.apiToken,
      logger: logger.child({ component: 'http' }),
    });
    await http.listen({ host: config.http.host, port: config.http.port });
    const bound = http.server.address();
    const port = typeof bound === 'object' && bound ? bound.port : config.http.port;
    const address = config.http.advertiseUrl ?? `http://${config.http.host}:${port}`;

    const queues = new QueueNames(config.keyPrefix);
    // Heartbeats and lease reads share one fail-fast connection: a lease is never waited for.
    const metaRedis = createRedis(target, 'client');
    const heartbeatRedis = createRedis(target, 'worker');
    const heartbeatQueue = new Queue(queues.metasrv, {
      connection: heartbeatRedis,
      prefix: queues.bullmqPrefix,
    });
    const heartbeats = new HeartbeatLoop(
      heartbeatQueue,
      config.heartbeatIntervalMs,
      () => buildHeartbeat(config.nodeId, address, group(), engine, time.now(), leases.nextHeartbeat()),
      time,
      logger,
      {
        delayMs: config.leaseGrantDelayMs,
        read: async () => {
          const raw = await metaRedis.get(leaseGrantKey(config.keyPrefix, config.nodeId));
          return raw === null ? undefined : leaseGrantSchema.parse(JSON.parse(raw));
        },
        accept: (grant) => leases.accept(grant),
      },
    );
    const tasks = new NodeTaskWorker(queues.node(config.nodeId), queues.bullmqPrefix, target, {
      nodeId: config.nodeId,
      engine,
      snapshotStorage: container.resolve(TOKENS.SnapshotStorage),
      group: group(),
      runner: container.resolve<RegionRunner>(REGION_RUNNER),
      backup: container.resolve<BackupEndpoint>(BACKUP_ENDPOINT),
      allowedStorage:
        backupConfigSchema.parse(config.backup ?? {}).allowedStorage ??
        defaultAllowedStorage(config.snapshotStorage),
      logger,
    });
    heartbeats.start();
    const node = new StorageNode(
      config,
      address,
      engine,
      host,
      http,
      tasks,
      heartbeats,
      heartbeatQueue,
      [heartbeatRedis, metaRedis],
      logger,
    );
    node.ready = true;
    started.node = node;
    logger.info({ node: config.nodeId, address, redis: describeRedisTarget(target) }, 'storage node started');
    return node;
  }

  async stop(): Promise<void> {
    this.ready = false;
    this.heartbeats.stop();
    const deadline = this.config.shutdownTimeoutMs;
    await this.tasks.close(Math.floor(deadline / 3));
    await this.heartbeatQueue.close().catch(() => undefined);
    // BullMQ leaves a connection it was given open: close ours, or it reconnects forever.
    for (const connection of this.connections) connection.disconnect();
    await this.http.close();
    // Flushing is not needed for safety (the WAL has every acknowledged write); it only makes the
    // next open shorter. Regions close as the worker group stops.
    await this.host.stop().catch((err: unknown) => this.logger.error({ err }, 'plugins failed to stop'));
    await this.engine.close();
    this.logger.info({ node: this.config.nodeId }, 'storage node stopped');
  }
}

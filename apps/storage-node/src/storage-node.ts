import 'reflect-metadata';
import { RealTimeProvider, type Timestamp } from '@regionstore/core';
import {
  PluginHost,
  TOKENS,
  checkEvictionPolicy,
  createMetricsRegistry,
  gauge,
  createRedis,
  describeRedisTarget,
  redisTarget,
  resolveOptional,
  waitForRedis,
  type Logger,
  type Plugin,
  type Registry,
  type RedisClient,
  RedisClusterRecord,
} from '@regionstore/runtime';
import { clusterRecordKey } from '@regionstore/protocol';
import { READ_ADMISSION, REGION_INFO_PROVIDER, backupPlugin } from '@regionstore/backup';
import { RocksEngine } from '@regionstore/engine';
import { checkWalDurability, logStorePlugin, type DurabilityReport } from '@regionstore/log-store';
import { regionRunnerPlugin } from '@regionstore/region-runner';
import { createStorage } from '@regionstore/storage-backends';
import { WORKER_GROUP, workerGroupPlugin, type WorkerGroup } from '@regionstore/worker-group';
import { container as root } from 'tsyringe';
import { checkApiExposure, type StorageNodeConfig } from './config';
import { dataApiPlugin, type DataApiServer } from './plugins/data-api-plugin';
import { heartbeatPlugin } from './plugins/heartbeat-plugin';
import { gcSafePointPlugin } from './plugins/gc-safe-point-plugin';
import { taskWorkerPlugin } from './plugins/task-worker-plugin';
import { NODE, type NodePluginConfig } from './plugins/tokens';
import { NodeClusterIdentity } from './cluster-identity';
import { WorkerGroupRegionInfo } from './region-info';

/**
 * The storage node's plugins, in start order (they stop in reverse): the WAL, region runner, worker
 * group, the GC safepoint it must know before serving, and backup endpoint, then the data API, the task worker, and the heartbeat last, so the
 * metasrv hears of the node only once it serves, and stops counting on it first.
 */
export const STORAGE_NODE_PLUGINS: readonly Plugin<NodePluginConfig>[] = [
  logStorePlugin,
  regionRunnerPlugin,
  workerGroupPlugin,
  gcSafePointPlugin,
  backupPlugin,
  dataApiPlugin,
  taskWorkerPlugin,
  heartbeatPlugin,
];

/**
 * One storage node: its plugins in one container, standing on the RocksDB engine, which opens before
 * them and closes after them. Before anything opens, Redis is checked: its eviction policy and
 * whether it keeps the WAL durability the config asks for.
 */
export class StorageNode {
  private constructor(
    readonly config: StorageNodeConfig,
    /** Starts and stops the plugins; its container resolves their parts (TOKENS, NODE and the packages'). */
    readonly host: PluginHost<NodePluginConfig>,
    private readonly engine: RocksEngine,
    /** The connection the cluster identity is read on. */
    private readonly identityRedis: RedisClient,
    private readonly stopWatchingIdentity: () => void,
    private readonly logger: Logger,
  ) {}

  get group(): WorkerGroup {
    return this.host.container.resolve<WorkerGroup>(WORKER_GROUP);
  }

  /** The data API's URL; undefined in a process assembled without it. */
  get address(): string | undefined {
    return this.api?.address;
  }

  private get api(): DataApiServer | undefined {
    return resolveOptional<DataApiServer>(this.host.container, NODE.DataApi);
  }

  /** Starts the given plugins (the standard set by default: a process of one's own may add or drop some). */
  static async start(
    config: StorageNodeConfig,
    given: Logger,
    plugins: readonly Plugin<NodePluginConfig>[] = STORAGE_NODE_PLUGINS,
  ): Promise<StorageNode> {
    // Every line names the node (SPEC §7), whichever part of it logs.
    const logger = given.child({ nodeId: config.nodeId });
    checkApiExposure(config);
    const durability = await checkRedis(config, logger);
    const container = root.createChildContainer();
    const metrics = createMetricsRegistry({ labels: { node: config.nodeId } });
    const engine = await RocksEngine.open({ path: config.dataDir, ...config.engine });
    const storage = createStorage(config.snapshotStorage);
    const identityRedis = createRedis(redisTarget(config), 'client');
    let identity: NodeClusterIdentity;
    try {
      await waitForRedis(identityRedis, 10_000);
      identity = await NodeClusterIdentity.establish({
        nodeId: config.nodeId,
        engine,
        dataDir: config.dataDir,
        redis: new RedisClusterRecord(
          identityRedis,
          clusterRecordKey(config.keyPrefix),
          `Redis ${describeRedisTarget(redisTarget(config))} (key prefix ${config.keyPrefix})`,
        ),
        objects: storage,
        logger,
      });
    } catch (err) {
      identityRedis.disconnect();
      await engine.close();
      throw err;
    }
    nodeMetrics(metrics, engine, durability, identity);
    container.register(TOKENS.Engine, { useValue: engine });
    container.register(TOKENS.SnapshotStorage, { useValue: storage });
    container.register(NODE.Identity, { useValue: identity });
    container.register(TOKENS.Logger, { useValue: logger });
    container.register(TOKENS.Metrics, { useValue: metrics });
    container.register(TOKENS.TimeProvider, { useValue: new RealTimeProvider() });
    container.register(NODE.Durability, { useValue: durability });
    const group = () => container.resolve<WorkerGroup>(WORKER_GROUP);
    container.register(REGION_INFO_PROVIDER, { useValue: new WorkerGroupRegionInfo(group) });
    // A backup reads at a ts like any read: no further ahead of this clock than a new leader covers.
    container.register(READ_ADMISSION, {
      useValue: { admit: (ts: Timestamp) => group().readTimestamps.admit(ts) },
    });

    const host = new PluginHost<NodePluginConfig>(container, config, { logger });
    try {
      await host.register(...plugins);
      await host.start();
    } catch (err) {
      identityRedis.disconnect();
      await engine.close();
      throw err;
    }
    const node = new StorageNode(config, host, engine, identityRedis, identity.watch(5000), logger);
    if (node.api) node.api.ready = true;
    logger.info(
      {
        address: node.address,
        redis: describeRedisTarget(redisTarget(config)),
        plugins: host.names,
      },
      'storage node started',
    );
    return node;
  }

  /**
   * A flush of the leading regions (within `workerGroup.stopFlushTimeoutMs`), then heartbeats, task
   * intake, HTTP, then backup → worker group → runner → WAL, then the engine: the order that loses
   * nothing. The flush is not needed for safety (the WAL has every acknowledged write); it makes the
   * next open shorter.
   */
  async stop(): Promise<void> {
    if (this.api) this.api.ready = false;
    // While it still heartbeats and holds its leases: flushed after them, a failover may already have
    // moved the regions, and each flush would upload a delta only to be refused.
    await resolveOptional<WorkerGroup>(this.host.container, WORKER_GROUP)
      ?.flushLeaders()
      .catch((err: unknown) => this.logger.warn({ err }, 'flushes before stop failed'));
    await this.host.stop().catch((err: unknown) => this.logger.error({ err }, 'plugins failed to stop'));
    this.stopWatchingIdentity();
    this.identityRedis.disconnect();
    await this.engine.close();
    this.logger.info('storage node stopped');
  }
}

/** Waits for Redis, checks its eviction policy (unless told not to) and what it promises the WAL. */
async function checkRedis(config: StorageNodeConfig, logger: Logger): Promise<DurabilityReport> {
  const probe = createRedis(redisTarget(config), 'client');
  try {
    await waitForRedis(probe, 10_000);
    if (config.wal.configCheck === 'config') await checkEvictionPolicy(probe, logger);
    return await checkWalDurability(probe, config.wal, logger);
  } finally {
    probe.disconnect();
  }
}

/**
 * What the node reports of the engine's memory, of the WAL durability Redis gives it, and whether Redis
 * still knows the node's cluster.
 */
function nodeMetrics(
  metrics: Registry,
  engine: RocksEngine,
  durability: DurabilityReport,
  identity: NodeClusterIdentity,
): void {
  gauge(metrics, {
    component: 'node',
    what: 'cluster_identity_ok',
    help: "1 while Redis knows the cluster this node's data belongs to (or the node is not bound yet); 0 when Redis lost it or names another cluster",
    collect: async (g) => g.set((await identity.verify().catch(() => undefined)) ? 0 : 1),
  });
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
}

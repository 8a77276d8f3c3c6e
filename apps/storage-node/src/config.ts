import { backupConfigSchema } from '@regionstore/backup';
import { regionRunnerConfigSchema } from '@regionstore/region-runner';
import { loadConfig, redisSectionSchema, type LoadConfigOptions } from '@regionstore/runtime';
import { workerGroupConfigSchema } from '@regionstore/worker-group';
import { checkExposure } from '@regionstore/http';
import { WAL_DURABILITY_MODES } from '@regionstore/log-store';
import { nodeIdSchema } from '@regionstore/protocol';
import { z } from 'zod';

const section = z.record(z.string(), z.unknown()).optional();

/** A storage node's configuration: a JSON file and/or `REGIONSTORE_*` environment variables. */
export const storageNodeConfigSchema = z.object({
  nodeId: nodeIdSchema,
  redisUrl: z.string().default('redis://127.0.0.1:6379'),
  /** Redis Cluster (`cluster`: seed URLs) or Sentinel (`sentinels`, `sentinelName`) instead of `redisUrl`. */
  redis: redisSectionSchema,
  /** The cluster's Redis key prefix (queues, WAL, metadata). Every process of a cluster uses the same. */
  keyPrefix: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/)
    .default('regionstore'),
  /** Where this node's RocksDB lives. */
  dataDir: z.string().min(1),
  /** Where region snapshots and flush manifests go; every node of the cluster must reach the same one. */
  snapshotStorage: z.string().min(1),
  http: z
    .object({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(0),
      /** The URL other processes use to reach this node (default: http://host:port). */
      advertiseUrl: z.string().optional(),
      bodyLimitBytes: z
        .number()
        .int()
        .positive()
        .default(64 * 1024 * 1024),
    })
    .prefault({}),
  /**
   * Bearer token the data API (`/v1/*`) requires; unset = open, allowed on a loopback address only.
   * `/health`, `/ready` and `/metrics` stay open, as on the metasrv.
   */
  apiToken: z.string().min(8).optional(),
  heartbeatIntervalMs: z.number().int().positive().default(500),
  /**
   * How long after each heartbeat the node reads the metasrv's lease grant that answers it. Region
   * leases (their length is the metasrv's `regionLeaseMs`) run from the heartbeat's send time.
   */
  leaseGrantDelayMs: z.number().int().nonnegative().default(50),
  /**
   * Tasks from the metasrv run at once: `concurrency` from the node's task queue (open, close,
   * upgrade, snapshots, split, merge), `bulkConcurrency` from its bulk queue (backup and restore of a
   * region, which take as long as the region is large), so no backup holds a slot a failover needs.
   */
  tasks: z
    .object({
      concurrency: z.number().int().min(1).max(64).default(8),
      bulkConcurrency: z.number().int().min(1).max(64).default(2),
    })
    .prefault({}),
  /** How long SIGTERM may take before the process exits anyway. */
  shutdownTimeoutMs: z.number().int().positive().default(15_000),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * RocksDB memory: memtable size and count per column family (RocksDB's defaults: 64 MiB, 2), and
   * the bound on its log files.
   */
  engine: z
    .object({
      writeBufferSize: z
        .number()
        .int()
        .min(1024 * 1024)
        .optional(),
      maxWriteBufferNumber: z.number().int().min(1).max(16).optional(),
      /** RocksDB log bytes after which every CF is flushed (default writeBufferSize). */
      maxTotalWalBytes: z
        .number()
        .int()
        .min(1024 * 1024)
        .optional(),
    })
    .prefault({}),
  /** What an acknowledged write promises; checked against Redis at start (see @regionstore/log-store). */
  wal: z
    .object({
      durability: z.enum(WAL_DURABILITY_MODES).default('everysec'),
      minReplicas: z.number().int().min(1).max(16).default(1),
      replicaTimeoutMs: z.number().int().positive().default(1000),
      configCheck: z.enum(['config', 'skip']).default('config'),
    })
    .prefault({}),
  /**
   * Load-based split (TiKV's): a region this node leads that takes `qpsThreshold` requests or
   * `byteThreshold` bytes a second for `detectTimes` seconds in a row proposes a split key, from
   * sampled requests, in its heartbeats; the metasrv splits it there. TiKV's thresholds are 3000 and
   * 30 MiB/s; bytes are 10 MiB/s here because that is about what one of these 2-core machines writes.
   */
  loadSplit: z
    .object({
      enabled: z.boolean().default(true),
      qpsThreshold: z.number().positive().default(3000),
      byteThreshold: z
        .number()
        .positive()
        .default(10 * 1024 * 1024),
      detectTimes: z.number().int().min(1).default(10),
    })
    .prefault({}),
  workerGroup: section,
  regionRunner: section,
  backup: section,
});

/** Every key a node's config file may hold: its own, and those of the sections its packages parse. */
export const storageNodeFileKeys = storageNodeConfigSchema.extend({
  workerGroup: workerGroupConfigSchema.optional(),
  regionRunner: regionRunnerConfigSchema.optional(),
  backup: backupConfigSchema.optional(),
});

/** A node's config from `file` (if any) and the `REGIONSTORE_*` environment (see loadConfig). */
export function loadStorageNodeConfig(options: LoadConfigOptions = {}): StorageNodeConfig {
  return loadConfig(storageNodeConfigSchema, { ...options, keys: storageNodeFileKeys });
}

export type StorageNodeConfig = z.output<typeof storageNodeConfigSchema>;
export type StorageNodeConfigInput = z.input<typeof storageNodeConfigSchema>;

/** An open data API only on a loopback address: anywhere else anyone who reaches it reads and writes. */
export function checkApiExposure(config: StorageNodeConfig): void {
  checkExposure(config.http.host, config.apiToken, 'apiToken (REGIONSTORE_API_TOKEN)', 'the data API');
}

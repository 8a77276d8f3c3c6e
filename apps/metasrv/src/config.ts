import { redisSectionSchema } from '@regionstore/runtime';
import { checkExposure } from '@regionstore/http';
import { z } from 'zod';

export const metasrvConfigSchema = z
  .object({
    /** Names this process in the leader lease and logs (default: host-pid). */
    instanceId: z.string().optional(),
    redisUrl: z.string().default('redis://127.0.0.1:6379'),
    /** Redis Cluster (`cluster`: seed URLs) or Sentinel (`sentinels`, `sentinelName`) instead of `redisUrl`. */
    redis: redisSectionSchema,
    keyPrefix: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/)
      .default('regionstore'),
    http: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(7700),
      })
      .prefault({}),
    /** Bearer token for the admin API and Bull Board; unset = open (local development only). */
    adminToken: z.string().min(8).optional(),
    backup: z
      .object({
        /**
         * The storage URL prefixes backups and restores may use (`local://` ones compared as resolved
         * paths). The nodes check their own list again. Default: `local://.data/backups` and
         * `snapshotStorage`.
         */
        allowedStorage: z.array(z.string().min(1)).optional(),
      })
      .prefault({}),
    /** The cluster's object store, as the nodes have it; here only a default backup target. */
    snapshotStorage: z.string().min(1).optional(),
    /** Finished backup and restore records kept: the newest `keep`, none older than `maxAgeMs`. */
    operationRecords: z
      .object({
        keep: z.number().int().min(1).default(100),
        maxAgeMs: z
          .number()
          .int()
          .positive()
          .default(30 * 24 * 3600 * 1000),
      })
      .prefault({}),
    /** Lets Bull Board retry/remove jobs; read-only by default. */
    boardReadOnly: z.boolean().default(true),
    /** Leader lease; renewed every third of it. Losing it stops leader work at once. */
    leaseMs: z.number().int().min(500).default(3000),
    /** Regions created on an empty cluster, spread evenly over the key space. */
    initialRegions: z.number().int().min(1).max(256).default(8),
    /** Or explicit split keys (UTF-8), which take precedence. */
    splitKeys: z.array(z.string().min(1)).optional(),
    /** Nodes that must be registered before the cluster is bootstrapped. */
    bootstrapNodes: z.number().int().min(1).default(1),
    /** A node whose last heartbeat is older than this counts as dead for placement. */
    nodeDeadAfterMs: z.number().int().positive().default(3000),
    /** Timeout of one node task (job) sent by the metasrv. */
    taskTimeoutMs: z.number().int().positive().default(30_000),
    supervisor: z
      .object({
        /** How often detectors are read: a dead node's regions wait at most this past the threshold. */
        tickIntervalMs: z.number().int().positive().default(100),
        /**
         * Tuned to 500 ms heartbeats: a silent node is declared failed about 2.05 s after its last
         * heartbeat, past its regions' leases (regionLeaseMs + leaseMarginMs = 1.75 s), so a failover
         * never waits one out; a node stalled longer than that (a long GC, a starved process) has its
         * regions moved, which costs availability, not correctness.
         */
        acceptableHeartbeatPauseMillis: z.number().int().nonnegative().default(1000),
        firstHeartbeatEstimateMillis: z.number().int().positive().default(500),
        threshold: z.number().positive().default(8),
        /** A failover waits this long for the failed node to downgrade before moving the fence anyway. */
        downgradeTimeoutMs: z.number().int().positive().default(1500),
      })
      .prefault({}),
    /**
     * How long a node may serve a region after the heartbeat the metasrv's grant answers. Shorter than
     * failure detection, so a failover rarely waits for it; a node that cannot renew (paused, cut off,
     * no metasrv leader) stops serving reads after it.
     */
    regionLeaseMs: z.number().int().min(200).default(1500),
    /** Added to every lease the metasrv waits out, for clock-rate drift between processes. */
    leaseMarginMs: z.number().int().nonnegative().default(250),
    /**
     * No failover for this long after becoming leader: restarted nodes report and get their regions
     * reopened, and leases granted by a previous leader run out. Longer than `regionLeaseMs`.
     */
    failoverGraceMs: z.number().int().nonnegative().default(6000),
    /** At most one reopen or close of a region on a node in this period. */
    repairIntervalMs: z.number().int().positive().default(5000),
    /**
     * Region balancing: while alive nodes' region counts differ by more than one, one region moves
     * from the fullest to the emptiest per `intervalMs`.
     */
    balance: z
      .object({
        enabled: z.boolean().default(true),
        intervalMs: z.number().int().positive().default(5000),
        /**
         * Once counts are even, a region moves to even out the bytes nodes lead while the node leading
         * the most leads more than `ratio` times the bytes of the one leading the least and more than
         * `minDiffBytes` above it (sizes as leaders report them). A region growing by `hotBytesPerSec`
         * or more (over the last 10 s of reports) is not moved for bytes: it is about to split, and its
         * new copy would chase its WAL; region-count moves take the slowest-growing region they can.
         */
        sizeBalance: z
          .object({
            ratio: z.number().min(1).default(1.25),
            minDiffBytes: z
              .number()
              .int()
              .nonnegative()
              .default(64 * 1024 * 1024),
            hotBytesPerSec: z
              .number()
              .int()
              .positive()
              .default(1024 * 1024),
          })
          .prefault({}),
      })
      .prefault({}),
    /**
     * Copies per region, the leader's included: `replicas − 1` followers tail each region's WAL on
     * other nodes, so a failover promotes one that holds the data already (fewer while fewer nodes
     * are alive; 1: none). Placement is checked every `intervalMs`.
     */
    replication: z
      .object({
        replicas: z.number().int().min(1).max(5).default(2),
        intervalMs: z.number().int().positive().default(1000),
      })
      .prefault({}),
    /**
     * Splits by size and keys (TiKV's split checkers): a region whose leader reports more than
     * `maxSizeBytes` (TiKV's region-max-size for its 256 MiB split size) or more than `maxKeys` MVCC
     * versions (its region-max-keys for that size) is split near the middle of its data, one split per
     * `checkIntervalMs` (TiKV checks every 10 s).
     */
    split: z
      .object({
        enabled: z.boolean().default(true),
        maxSizeBytes: z
          .number()
          .int()
          .positive()
          .default(384 * 1024 * 1024),
        maxKeys: z.number().int().positive().default(3_840_000),
        checkIntervalMs: z.number().int().positive().default(10_000),
      })
      .prefault({}),
    /**
     * Merges (PD's merge checker): two adjacent regions, both at most `maxSizeBytes` (PD's
     * max-merge-region-size) and `maxKeys` versions (its max-merge-region-keys), neither split or merged for `splitMergeIntervalMs` (PD's
     * split-merge-interval), are merged, checked every `checkIntervalMs`; never below `initialRegions`.
     */
    merge: z
      .object({
        enabled: z.boolean().default(true),
        maxSizeBytes: z
          .number()
          .int()
          .positive()
          .default(54 * 1024 * 1024),
        maxKeys: z.number().int().positive().default(540_000),
        splitMergeIntervalMs: z.number().int().nonnegative().default(3_600_000),
        checkIntervalMs: z.number().int().positive().default(60_000),
      })
      .prefault({}),
    /** MVCC GC: the cluster safepoint the leader keeps (see GcSafePoints). */
    gc: z
      .object({
        /** MVCC history kept: the safepoint trails the clock by this much (TiKV's gc_life_time). */
        lifeTimeMs: z
          .number()
          .int()
          .nonnegative()
          .default(10 * 60_000),
        /** How often the leader moves the safepoint forward. */
        runIntervalMs: z.number().int().positive().default(60_000),
        /** TTL of the service safepoint a backup holds (renewed every third of it while it runs). */
        backupSafePointTtlMs: z
          .number()
          .int()
          .positive()
          .default(5 * 60_000),
      })
      .prefault({}),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .refine((c) => c.failoverGraceMs > c.regionLeaseMs + c.leaseMarginMs, {
    message: 'failoverGraceMs must be longer than regionLeaseMs + leaseMarginMs',
    path: ['failoverGraceMs'],
  });

/** An admin API reachable from other machines must not be open. */
export function checkAdminExposure(config: MetasrvConfig): void {
  checkExposure(
    config.http.host,
    config.adminToken,
    'adminToken (REGIONSTORE_ADMIN_TOKEN)',
    'the admin API and Bull Board',
  );
}

export type MetasrvConfig = z.output<typeof metasrvConfigSchema>;
export type MetasrvConfigInput = z.input<typeof metasrvConfigSchema>;

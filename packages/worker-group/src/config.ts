import { totalmem } from 'node:os';
import { z } from 'zod';

const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;

/** GreptimeDB's default: a eighth of the machine's memory, at most 1 GiB. */
export function defaultGlobalWriteBufferSize(): number {
  return Math.min(Math.floor(totalmem() / 8), GiB);
}

export const workerGroupConfigSchema = z
  .object({
    /** Workers in the group; a power of two. */
    numWorkers: z
      .number()
      .int()
      .min(1)
      .max(256)
      .refine((n) => (n & (n - 1)) === 0, 'must be a power of two')
      .default(4),
    workerChannelSize: z.number().int().min(1).default(128),
    workerRequestBatchSize: z.number().int().min(1).default(64),
    checkRegionIntervalMs: z.number().int().positive().default(60_000),
    maxInitialCheckDelayMs: z.number().int().nonnegative().default(180_000),
    /** Regions with unflushed writes older than this are flushed by the periodic check. */
    autoFlushIntervalMs: z
      .number()
      .int()
      .positive()
      .default(30 * 60_000),
    /**
     * A region is flushed once its unflushed WAL passes this, whatever the region's size (a flush
     * writes only what changed): bounds the WAL Redis holds and an open (failover, restart) replays.
     */
    regionWriteBufferSize: z
      .number()
      .int()
      .positive()
      .default(4 * MiB),
    /**
     * Delta files a region's manifest may name before the next flush writes a full snapshot: what an
     * open reads at most besides the snapshot. 16 made a 256 MiB region write 2.7 bytes to the object
     * store per byte ingested (a full snapshot every 64 MiB of writes); 32 lets the ratio decide up to
     * 64 MiB snapshots.
     */
    maxDeltaFiles: z.number().int().min(0).default(32),
    /**
     * The next flush writes a full snapshot once the deltas hold this many times the snapshot's bytes
     * (see fullFlushDue: the object store then writes about 2 + 1/ratio bytes per byte ingested).
     */
    deltaCompactionRatio: z.number().positive().default(2),
    globalWriteBufferSize: z.number().int().positive().optional(),
    globalWriteBufferRejectSize: z.number().int().positive().optional(),
    maxBackgroundFlushes: z.number().int().min(1).default(2),
    maxBackgroundCompactions: z.number().int().min(1).default(1),
    maxBackgroundPurges: z.number().int().min(1).default(2),
    maxKeyBytes: z
      .number()
      .int()
      .positive()
      .default(8 * 1024),
    maxValueBytes: z
      .number()
      .int()
      .positive()
      .default(8 * MiB),
    /**
     * Bytes of versions per second the node's MVCC GC reads at most, over all its regions (0: no
     * limit). GC collects below the cluster GC safepoint the metasrv hands out in heartbeat replies.
     */
    gcBytesPerSecond: z
      .number()
      .nonnegative()
      .default(32 * MiB),
    /**
     * How far ahead of this node's clock a read at a ts may be (see ReadTimestamps): a region's new
     * leader starts its writes this far ahead, so keep it small.
     */
    maxReadAheadMs: z.number().int().nonnegative().default(1000),
    /**
     * How often a leader publishes its resolved ts (the ts up to which its followers may serve
     * reads once they applied the WAL's end); 0: never, follower reads then stop at the last write.
     */
    resolvedTsIntervalMs: z.number().int().nonnegative().default(1000),
    /**
     * A leader's trim keeps WAL entries its followers have not applied yet, from at most this many
     * flushes back (Redis then holds up to this many + 1 write buffers of WAL for a lagging region); a
     * follower further behind reloads from the flushes. 0: trims ignore followers.
     */
    followerWalFlushes: z.number().int().min(0).default(4),
    /** A follower's reported position holds trims back only this long after it was reported. */
    followerStaleMs: z.number().int().positive().default(10_000),
    /** How long a follower's read of the WAL waits for new entries. */
    followerTailBlockMs: z.number().int().positive().default(200),
    /**
     * How long a stopping node keeps starting flushes of what its leading regions took since their
     * last flush (`flushLeaders`, a delta each), so the next open replays less; 0: no flush on stop.
     */
    stopFlushTimeoutMs: z.number().int().nonnegative().default(5000),
  })
  .transform((config) => {
    const globalWriteBufferSize = config.globalWriteBufferSize ?? defaultGlobalWriteBufferSize();
    return {
      ...config,
      globalWriteBufferSize,
      globalWriteBufferRejectSize: config.globalWriteBufferRejectSize ?? 2 * globalWriteBufferSize,
    };
  });

export type WorkerGroupConfig = z.output<typeof workerGroupConfigSchema>;
export type WorkerGroupConfigInput = z.input<typeof workerGroupConfigSchema>;

import { cpus } from 'node:os';
import { z } from 'zod';

export const backupConfigSchema = z.object({
  /**
   * Storage URL prefixes backup and restore jobs may use (`local://` ones compared as resolved paths);
   * the metasrv checks its own list first. Default (the storage node's): `local://.data/backups` and
   * the node's `snapshotStorage`.
   */
  allowedStorage: z.array(z.string().min(1)).optional(),
  /** Workers per backup task (the pool grows to it); runtime-adjustable with `setNumThreads`. */
  numThreads: z
    .number()
    .int()
    .min(1)
    .default(Math.max(1, Math.floor(cpus().length / 2))),
  /** Ranges a worker takes from the shared Progress at once. */
  batchSize: z.number().int().min(1).default(8),
  /** A backup file is closed and a new one started past this many raw bytes. */
  sstMaxSize: z
    .number()
    .int()
    .min(1)
    .default(144 * 1024 * 1024),
  /** The pool is dropped after this long without a task. */
  poolIdleThresholdMs: z
    .number()
    .int()
    .positive()
    .default(30 * 60_000),
});

export type BackupConfig = z.output<typeof backupConfigSchema>;
export type BackupConfigInput = z.input<typeof backupConfigSchema>;

import { z } from 'zod';
import { COMPRESSION_TYPES } from '@regionstore/region-files';

export const regionRunnerConfigSchema = z.object({
  /** How many snapshot generations may run at once. */
  snapGeneratorPoolSize: z.number().int().min(1).max(64).default(2),
  /** Period of the timer that retries delayed applies and counts towards stale-range cleanup. */
  tickIntervalMs: z.number().int().positive().default(1000),
  /** Stale ranges are cleaned every this many ticks (and on each destroy). */
  cleanStaleTick: z.number().int().min(1).default(10),
  /** Delete region data with range tombstones (true) or key by key in large batches (false). */
  useDeleteRange: z.boolean().default(true),
  /** Bytes written per batch while loading a snapshot; the apply's abort check runs between batches. */
  applyBatchBytes: z
    .number()
    .int()
    .positive()
    .default(4 * 1024 * 1024),
  snapshotCompression: z.enum(COMPRESSION_TYPES).default('lz4'),
});

export type RegionRunnerConfig = z.output<typeof regionRunnerConfigSchema>;
export type RegionRunnerConfigInput = z.input<typeof regionRunnerConfigSchema>;

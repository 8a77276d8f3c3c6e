import { z } from 'zod';
import { bytesCodec, timestampCodec } from './codecs';
import { errorBodySchema } from './http';

const emptyBytes = () => Buffer.alloc(0);

/**
 * A storage URL. Bounded: it travels in jobs and operation records, and nothing legitimate is longer.
 */
export const storageUrlSchema = z.string().min(1).max(2048);

/** What a node is asked to back up (TiKV's BackupRequest, our names). */
export const backupRequestSchema = z.strictObject({
  /** Inclusive; empty = from the first key. */
  startKey: bytesCodec.default(emptyBytes),
  /** Exclusive; empty = to the last key. */
  endKey: bytesCodec.default(emptyBytes),
  /** > 0 makes the backup incremental: changes in (startVersion, endVersion], deletes included. */
  startVersion: timestampCodec.default(0n),
  /** The timestamp the data is read at. */
  endVersion: timestampCodec,
  /** Bytes per second to storage; 0 = unlimited. */
  rateLimit: z.number().int().nonnegative().default(0),
  /** Where the files go: `local:///dir`, `s3://bucket/prefix?…`, `memory://name`, `noop://`. */
  storage: storageUrlSchema,
  cf: z.string().max(64).default('default'),
  /** Copy the CF's raw pairs instead of reading MVCC versions. */
  isRawKv: z.boolean().default(false),
  /** `unknown` = the default (lz4); `none` stores blocks uncompressed. */
  compressionType: z.enum(['none', 'lz4', 'snappy', 'zstd', 'unknown']).default('unknown'),
  compressionLevel: z.number().int().default(0),
  /** Workers for this backup; 0 = the endpoint's `numThreads`. */
  concurrency: z.number().int().nonnegative().default(0),
});
export type BackupRequest = z.output<typeof backupRequestSchema>;
export type BackupRequestWire = z.input<typeof backupRequestSchema>;

export const backupFileSchema = z.strictObject({
  name: z.string(),
  startKey: bytesCodec,
  endKey: bytesCodec,
  startVersion: timestampCodec,
  endVersion: timestampCodec,
  cf: z.string(),
  kvCount: z.number().int().nonnegative(),
  /** Keys plus values before encoding and compression. */
  rawBytes: z.number().int().nonnegative(),
  /** Bytes of the object in storage. */
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** `txn`: MVCC versions; `raw`: the CF's raw pairs. */
  kind: z.enum(['txn', 'raw']),
});
export type BackupFile = z.output<typeof backupFileSchema>;

/** One per backed-up range: its files, or why it failed. */
export const backupResponseSchema = z.object({
  startKey: bytesCodec,
  endKey: bytesCodec,
  files: z.array(backupFileSchema),
  error: errorBodySchema.optional(),
});
export type BackupResponse = z.output<typeof backupResponseSchema>;

/** The `backupmeta` object written next to a finished backup's files. */
export const backupMetaSchema = z.object({
  version: z.literal(1),
  toolVersion: z.string(),
  createdAt: z.string(),
  startVersion: timestampCodec,
  endVersion: timestampCodec,
  isRawKv: z.boolean(),
  cf: z.string(),
  ranges: z.array(z.object({ startKey: bytesCodec, endKey: bytesCodec })),
  files: z.array(backupFileSchema),
});
export type BackupMeta = z.output<typeof backupMetaSchema>;

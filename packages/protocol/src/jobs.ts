import { InvalidArgumentError } from '@regionstore/core';
import { z } from 'zod';
import { backupFileSchema, backupRequestSchema, backupResponseSchema, storageUrlSchema } from './backup';
import {
  bytesCodec,
  entryIdSchema,
  epochSchema,
  keyRangeSchema,
  nodeIdSchema,
  regionIdCodec,
  regionRoleSchema,
  timestampCodec,
} from './codecs';

/** What a node reports about one region in every heartbeat. */
export const regionStatSchema = z.strictObject({
  regionId: regionIdCodec,
  role: regionRoleSchema,
  epoch: epochSchema,
  approximateSizeBytes: z.number().int().nonnegative(),
  /**
   * MVCC versions in the region, estimated: its bytes times its node's entries per byte (absent from
   * nodes that predate it; see buildHeartbeat).
   */
  approximateKeys: z.number().int().nonnegative().optional(),
  writtenBytesSinceFlush: z.number().int().nonnegative(),
  lastEntryId: entryIdSchema,
  /** A leader's load-based split key, once the region has been hot long enough (see LoadSplitDetector). */
  loadSplitKey: bytesCodec.optional(),
});

export const heartbeatPayload = z.strictObject({
  nodeId: nodeIdSchema,
  /** The node's data-plane base URL. */
  address: z.url(),
  timestampMs: z.number().int().nonnegative(),
  regions: z.array(regionStatSchema),
  /** Names this heartbeat in the lease grant that answers it (the node's process and a counter). */
  seq: z.string().max(128).optional(),
  /** Regions the node is opening (replaying): alive, though not serving yet. */
  opening: z.array(regionIdCodec).max(100_000).default([]),
  /** The cluster the node's data belongs to; absent while it is not bound to one yet. */
  clusterId: z.string().min(1).max(64).optional(),
});
export const heartbeatResult = z.object({ accepted: z.boolean() });

export const openRegionPayload = z.strictObject({
  regionId: regionIdCodec,
  range: keyRangeSchema,
  epoch: epochSchema,
  role: z.enum(['leader', 'follower', 'candidate']),
});
export const openRegionResult = z.object({ regionId: regionIdCodec, lastEntryId: entryIdSchema });

export const closeRegionPayload = z.strictObject({
  regionId: regionIdCodec,
  /** Also delete the region's local data (after a migration moved it away). */
  destroy: z.boolean().default(false),
  /** The placement that replaces this node's (the node refuses opens at older epochs from then on). */
  epoch: epochSchema.optional(),
});
export const closeRegionResult = z.object({ regionId: regionIdCodec, closed: z.boolean() });

export const downgradeRegionPayload = z.strictObject({
  regionId: regionIdCodec,
  /** The placement the migration moves the region from: a copy at a newer one refuses (stale job). */
  epoch: epochSchema.optional(),
});

export const createRegionPayload = z.strictObject({
  regionId: regionIdCodec,
  range: keyRangeSchema,
  epoch: epochSchema,
});

const regionOnly = z.strictObject({ regionId: regionIdCodec });
/** The answer of every job that changes a region: where its WAL stands afterwards. */
export const regionEntryResult = z.object({ regionId: regionIdCodec, lastEntryId: entryIdSchema });

export const upgradeRegionPayload = z.strictObject({ regionId: regionIdCodec, epoch: epochSchema });

/** Catch a follower up to `entryId` (default: the WAL's end) without making it writable. */
export const catchupRegionPayload = z.strictObject({
  regionId: regionIdCodec,
  entryId: entryIdSchema.optional(),
});

/**
 * Split a leading region at `splitKey` (its route's `range` and `epoch` say how to open it again if
 * its node restarted); the parent goes to `newEpoch`, the child `[splitKey, end)` starts at `childEpoch`.
 */
export const splitRegionPayload = z.strictObject({
  regionId: regionIdCodec,
  range: keyRangeSchema,
  epoch: epochSchema,
  splitKey: bytesCodec,
  child: regionIdCodec,
  newEpoch: epochSchema,
  childEpoch: epochSchema,
});

/** Merge the adjacent `source` into `target`, both led by the node (see WorkerGroup.mergeRegions). */
export const mergeRegionsPayload = z.strictObject({
  target: regionIdCodec,
  targetRange: keyRangeSchema,
  targetEpoch: epochSchema,
  source: regionIdCodec,
  sourceRange: keyRangeSchema,
  sourceEpoch: epochSchema,
  epoch: epochSchema,
});

/** A key near the middle of a region's data by size; absent when it holds too little to split. */
export const splitKeyResult = z.object({ regionId: regionIdCodec, splitKey: bytesCodec.optional() });

/** A region snapshot in snapshot storage, taken at `term` and WAL `index`, its object `name`. */
export const snapshotResult = z.object({
  regionId: regionIdCodec,
  name: z.string(),
  term: z.number().int().nonnegative(),
  index: entryIdSchema,
  size: z.number().int().nonnegative(),
  kvCount: z.number().int().nonnegative(),
  sha256: z.string(),
});

/**
 * Replace a region's local data (the region not open on the node) with a generated snapshot: its
 * object `name`, and the term and index it was taken at, as `generate-snapshot` answered; with
 * `sha256`, a file under that name with other bytes is refused (`ChecksumMismatch`).
 */
export const applySnapshotPayload = z.strictObject({
  regionId: regionIdCodec,
  range: keyRangeSchema,
  epoch: epochSchema,
  name: z.string().min(1).max(1024),
  term: z.number().int().nonnegative(),
  index: entryIdSchema,
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
});
export const applySnapshotResult = z.object({ regionId: regionIdCodec, status: z.literal('Finished') });

/** Delete a range's local data (no open region may still serve any of it). */
export const destroyRangePayload = z.strictObject({ regionId: regionIdCodec, range: keyRangeSchema });

export const backupPayload = z.strictObject({ request: backupRequestSchema });
export const backupResult = z.object({ responses: z.array(backupResponseSchema) });

export const restorePayload = z.strictObject({
  /** Where the backup's files are. */
  storage: storageUrlSchema,
  files: z.array(backupFileSchema),
  /** The region ranges this job restores; data outside them belongs to other jobs. */
  ranges: z.array(keyRangeSchema).min(1),
  /** The sender verified the files against the backup meta; the node checks them as it writes. */
  verified: z.boolean().default(false),
});
export const restoreResult = z.object({
  files: z.number().int().nonnegative(),
  kvs: z.number().int().nonnegative(),
});

/**
 * What a node's engine holds of each region, open or not (for a cluster recovery: which node has the
 * newest copy, and how far past the last flush it was applied).
 */
export const localRegionSchema = z.object({
  regionId: regionIdCodec,
  state: z.enum(['Normal', 'Applying', 'Tombstone']),
  range: keyRangeSchema,
  epoch: epochSchema,
  appliedIndex: entryIdSchema.optional(),
});
export const localRegionsResult = z.object({ regions: z.array(localRegionSchema) });

/**
 * The first key of `range` within the region whose newest version was committed after `ts` (a restore
 * of a backup taken at `ts` would stay hidden under it), read on the region's leader; `covered` is the
 * part of `range` the region holds there (less after a split: the rest is asked elsewhere).
 */
export const newerVersionPayload = z.strictObject({
  regionId: regionIdCodec,
  range: keyRangeSchema,
  ts: timestampCodec,
});
export const newerVersionResult = z.object({
  regionId: regionIdCodec,
  found: z.object({ key: bytesCodec, ts: timestampCodec }).optional(),
  covered: z.array(keyRangeSchema),
});

/** Every job kind, with the schemas both sides validate against. */
export const JOBS = {
  heartbeat: { payload: heartbeatPayload, result: heartbeatResult },
  'create-region': { payload: createRegionPayload, result: regionEntryResult },
  'open-region': { payload: openRegionPayload, result: openRegionResult },
  'close-region': { payload: closeRegionPayload, result: closeRegionResult },
  'downgrade-region': { payload: downgradeRegionPayload, result: regionEntryResult },
  'upgrade-region': { payload: upgradeRegionPayload, result: regionEntryResult },
  'flush-region': { payload: regionOnly, result: regionEntryResult },
  'compact-region': { payload: regionOnly, result: regionEntryResult },
  'catchup-region': { payload: catchupRegionPayload, result: regionEntryResult },
  'split-region': { payload: splitRegionPayload, result: regionEntryResult },
  'split-key': { payload: regionOnly, result: splitKeyResult },
  'merge-regions': { payload: mergeRegionsPayload, result: regionEntryResult },
  'generate-snapshot': { payload: regionOnly, result: snapshotResult },
  'apply-snapshot': { payload: applySnapshotPayload, result: applySnapshotResult },
  'destroy-range': { payload: destroyRangePayload, result: regionOnly },
  backup: { payload: backupPayload, result: backupResult },
  restore: { payload: restorePayload, result: restoreResult },
  'local-regions': { payload: z.strictObject({}), result: localRegionsResult },
  'newer-version': { payload: newerVersionPayload, result: newerVersionResult },
} as const;

export type JobName = keyof typeof JOBS;
export type JobPayload<N extends JobName> = z.output<(typeof JOBS)[N]['payload']>;
export type JobResult<N extends JobName> = z.output<(typeof JOBS)[N]['result']>;
export type JobPayloadWire<N extends JobName> = z.input<(typeof JOBS)[N]['payload']>;

export function isJobName(name: string): name is JobName {
  return Object.hasOwn(JOBS, name);
}

function schemaOf(name: string, part: 'payload' | 'result'): z.ZodType {
  if (!isJobName(name)) {
    throw new InvalidArgumentError(`unknown job '${name}'`, { job: name, known: Object.keys(JOBS) });
  }
  return JOBS[name][part];
}

function decode<T>(name: string, part: 'payload' | 'result', data: unknown): T {
  const result = schemaOf(name, part).safeParse(data);
  if (result.success) return result.data as T;
  const issues = result.error.issues.map((i) => ({
    path: i.path.map(String).join('.') || '(root)',
    message: i.message,
  }));
  throw new InvalidArgumentError(
    `invalid ${part} for job '${name}': ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    { job: name, issues },
  );
}

/** Validates job data from the queue; a bad payload becomes InvalidArgument naming every bad field. */
export function decodeJobPayload<N extends JobName>(name: N, data: unknown): JobPayload<N> {
  return decode(name, 'payload', data);
}

export function decodeJobResult<N extends JobName>(name: N, data: unknown): JobResult<N> {
  return decode(name, 'result', data);
}

export function encodeJobPayload<N extends JobName>(name: N, payload: JobPayload<N>): unknown {
  return z.encode(schemaOf(name, 'payload'), payload as never);
}

export function encodeJobResult<N extends JobName>(name: N, result: JobResult<N>): unknown {
  return z.encode(schemaOf(name, 'result'), result as never);
}

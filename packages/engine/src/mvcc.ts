import {
  CorruptFileError,
  MAX_TIMESTAMP,
  compareKeys,
  type KeyRange,
  type Timestamp,
} from '@regionstore/core';
import { CF_DEFAULT, CF_LATEST } from './cf';
import {
  DATA_PREFIX,
  TS_SUFFIX_BYTES,
  decodeBytes,
  decodeMvccKey,
  mvccKey,
  mvccRange,
  tsSuffix,
  versionKey,
} from './data-key';
import type { KvEngine, KvReader } from './kv-engine';
import { decodeLatest, latestKey, latestTimestamps, latestVersionKey } from './latest';
import { WriteBatch } from './write-batch';

/**
 * Multi-version values in the `default` CF: one entry per (user key, commit ts), newest first. A value
 * starts with a type byte: `P` then the user value, or `D` for a delete tombstone.
 */
const PUT = 0x50;
const DELETE = 0x44;
const TOMBSTONE = Buffer.from([DELETE]);

export interface MvccVersion {
  key: Buffer;
  ts: Timestamp;
  /** Undefined for a delete. */
  value: Buffer | undefined;
}

/**
 * Writes versions at one commit ts, each as its key's newest: the caller writes each key's versions
 * in commit-ts order (see `VersionWriter` for older ones). What every version at the ts shares (the
 * key suffix, the `latest` values) is built once, not per key: a write's mutations all commit at its
 * ts, and this runs for every key written or replayed.
 */
export class VersionsAt {
  private readonly suffix: Buffer;
  /** `latest` names a version by its type and ts suffix, without a copy of its value (latest.ts). */
  private readonly putWhere: Buffer;
  private readonly deleteWhere: Buffer;

  constructor(readonly ts: Timestamp) {
    this.suffix = tsSuffix(ts);
    this.putWhere = Buffer.concat([Buffer.from([PUT]), this.suffix]);
    this.deleteWhere = Buffer.concat([TOMBSTONE, this.suffix]);
  }

  /** A put, or a delete when `value` is undefined. */
  write(batch: WriteBatch, userKey: Buffer, value: Buffer | undefined): WriteBatch {
    const key = versionKey(userKey, this.suffix);
    // The `latest` key is the version key without its ts suffix.
    const pointerKey = key.subarray(0, key.length - TS_SUFFIX_BYTES);
    return batch
      .put(CF_DEFAULT, key, storedValue(value))
      .put(CF_LATEST, pointerKey, value === undefined ? this.deleteWhere : this.putWhere);
  }
}

/** A version's value as `default` stores it: its type byte, then the value of a put. */
export function storedValue(value: Buffer | undefined): Buffer {
  if (value === undefined) return TOMBSTONE;
  const stored = Buffer.allocUnsafe(1 + value.length);
  stored[0] = PUT;
  value.copy(stored, 1);
  return stored;
}

/** Adds a version (a put, or a delete when `value` is undefined) to a batch, as the key's newest. */
export function writeVersion(batch: WriteBatch, version: MvccVersion): WriteBatch {
  return new VersionsAt(version.ts).write(batch, version.key, version.value);
}

export function putVersion(batch: WriteBatch, key: Buffer, ts: Timestamp, value: Buffer): WriteBatch {
  return writeVersion(batch, { key, ts, value });
}

export function deleteVersion(batch: WriteBatch, key: Buffer, ts: Timestamp): WriteBatch {
  return writeVersion(batch, { key, ts, value: undefined });
}

/** A version as the engine stores it in `default` (backups copy versions in this form). */
export function encodeVersion(version: MvccVersion): { key: Buffer; value: Buffer } {
  return {
    key: mvccKey(version.key, version.ts),
    value: storedValue(version.value),
  };
}

export function decodeVersion(rawKey: Buffer, rawValue: Buffer): MvccVersion {
  const { key, ts } = decodeMvccKey(rawKey);
  return { key, ts, value: versionValue(rawKey, rawValue) };
}

function versionValue(rawKey: Buffer, rawValue: Buffer): Buffer | undefined {
  const type = rawValue[0];
  if (type === PUT) return rawValue.subarray(1);
  if (type === DELETE && rawValue.length === 1) return undefined;
  throw new CorruptFileError(`bad MVCC value for key ${rawKey.toString('hex')}`);
}

/** Every stored version in the range, keys ascending and each key's versions newest first. */
async function* versions(reader: KvReader, range: KeyRange, batchSize?: number): AsyncIterable<MvccVersion> {
  const bounds = mvccRange(range);
  for await (const entry of reader.iterate(CF_DEFAULT, { ...bounds, ...(batchSize ? { batchSize } : {}) })) {
    yield decodeVersion(entry.key, entry.value);
  }
}

/** The value of `key` as of `ts` (default: latest), or undefined if absent or deleted then. */
export async function mvccGet(
  reader: KvReader,
  key: Buffer,
  ts: Timestamp = MAX_TIMESTAMP,
): Promise<Buffer | undefined> {
  if (ts === MAX_TIMESTAMP) return (await newestOf(reader, [key]))[0]?.value;
  // The first entry at or after (key, ts) is the newest version at or below ts, if it is this key's.
  const end = mvccRange({ start: key, end: Buffer.concat([key, Buffer.from([0])]) }).end;
  for await (const entry of reader.iterate(CF_DEFAULT, { start: mvccKey(key, ts), end, limit: 1 })) {
    return decodeVersion(entry.key, entry.value).value;
  }
  return undefined;
}

/**
 * The newest versions that `latest` entries name (undefined raw: a key without versions): deletes
 * from the entry alone, puts with their values read from `default` in one read batch. A version GC
 * removed between the two reads (a newer one replaced it meanwhile) is looked up again.
 */
async function versionsNamed(
  reader: KvReader,
  entries: Array<{ key: Buffer; latestKey: Buffer; raw: Buffer | undefined }>,
  again = true,
): Promise<Array<MvccVersion | undefined>> {
  const decoded = entries.map((e) => (e.raw === undefined ? undefined : decodeLatest(e.raw)));
  const puts = entries.flatMap((e, i) => (decoded[i]?.type === PUT ? [i] : []));
  const values = await reader.getMany(
    CF_DEFAULT,
    puts.map((i) => latestVersionKey(entries[i]!.latestKey, entries[i]!.raw!)),
  );
  const found = new Map(puts.map((at, n) => [at, values[n]] as const));
  return Promise.all(
    entries.map(async (e, i): Promise<MvccVersion | undefined> => {
      const latest = decoded[i];
      if (!latest) return undefined;
      if (latest.type !== PUT) {
        if (latest.type !== DELETE)
          throw new CorruptFileError(`bad latest-version type for ${e.key.toString('hex')}`);
        return { key: e.key, ts: latest.ts, value: undefined };
      }
      const stored = found.get(i);
      if (stored !== undefined)
        return { key: e.key, ts: latest.ts, value: versionValue(e.latestKey, stored) };
      if (!again)
        throw new CorruptFileError(`latest names a version of ${e.key.toString('hex')} that default lacks`);
      return (await newestOf(reader, [e.key], false))[0];
    }),
  );
}

/** Each key's newest version, deletes included; undefined for a key without versions. */
async function newestOf(
  reader: KvReader,
  keys: Buffer[],
  again = true,
): Promise<Array<MvccVersion | undefined>> {
  const latestKeys = keys.map(latestKey);
  const raw = await reader.getMany(CF_LATEST, latestKeys);
  return versionsNamed(
    reader,
    keys.map((key, i) => ({ key, latestKey: latestKeys[i]!, raw: raw[i] })),
    again,
  );
}

/**
 * `mvccGet` of many keys: at the latest timestamp two native read batches (`latest`, then the values
 * in `default`), else one seek per key. Pass a snapshot to read every key at the same point.
 */
export async function mvccGetMany(
  reader: KvReader,
  keys: Buffer[],
  ts: Timestamp = MAX_TIMESTAMP,
): Promise<Array<Buffer | undefined>> {
  if (ts !== MAX_TIMESTAMP) return Promise.all(keys.map((key) => mvccGet(reader, key, ts)));
  return (await newestOf(reader, keys)).map((v) => v?.value);
}

export interface MvccScanOptions {
  limit?: number;
  batchSize?: number;
  /** Keys descending. */
  reverse?: boolean;
}

/** Live key/value pairs of `[start, end)` as of `ts`, in key order (descending with `reverse`). */
export async function* mvccScan(
  reader: KvReader,
  range: KeyRange,
  ts: Timestamp = MAX_TIMESTAMP,
  options: MvccScanOptions = {},
): AsyncIterable<{ key: Buffer; value: Buffer; ts: Timestamp }> {
  let remaining = options.limit ?? Infinity;
  if (remaining <= 0) return;
  const source =
    ts === MAX_TIMESTAMP
      ? newestVersions(reader, range, options)
      : options.reverse
        ? reverseVisible(reader, range, ts, options.batchSize)
        : forwardVisible(reader, range, ts, options.batchSize);
  for await (const version of source) {
    if (version.value === undefined) continue;
    yield { key: version.key, value: version.value, ts: version.ts };
    if (--remaining <= 0) return;
  }
}

/** Per key, its newest version (deletes included), from the `latest` CF, values read a batch at a time. */
async function* newestVersions(reader: KvReader, range: KeyRange, options: MvccScanOptions) {
  // One entry per key here, so a short scan needs about `limit` of them, not a default-sized fetch.
  const batchSize = options.batchSize ?? (options.limit ? Math.min(1024, Math.max(16, options.limit)) : 256);
  let pending: Array<{ key: Buffer; latestKey: Buffer; raw: Buffer }> = [];
  const drain = async function* () {
    const named = await versionsNamed(reader, pending);
    pending = [];
    for (const version of named) if (version) yield version;
  };
  for await (const entry of reader.iterate(CF_LATEST, {
    ...mvccRange(range),
    ...(options.reverse ? { reverse: true } : {}),
    batchSize,
  })) {
    if (entry.key[0] !== DATA_PREFIX)
      throw new CorruptFileError(`not a data key: ${entry.key.toString('hex')}`);
    pending.push({ key: decodeBytes(entry.key, 1).key, latestKey: entry.key, raw: entry.value });
    if (pending.length >= batchSize) yield* drain();
  }
  if (pending.length > 0) yield* drain();
}

/**
 * The first key of `range` whose newest version (a delete included) was committed after `ts`, from the
 * `latest` CF; undefined when there is none. Versions written at `ts` or below (a restore of a backup
 * taken at `ts`) would stay hidden under it. With nothing newer it reads every key of the range:
 * `scanned.keys` counts them for whoever reports progress, and `signal` ends the scan early.
 */
export async function firstNewerThan(
  reader: KvReader,
  range: KeyRange,
  ts: Timestamp,
  { scanned = { keys: 0 }, signal }: { scanned?: { keys: number }; signal?: AbortSignal } = {},
): Promise<{ key: Buffer; ts: Timestamp } | undefined> {
  for await (const entry of reader.iterate(CF_LATEST, { ...mvccRange(range), batchSize: 1024 })) {
    signal?.throwIfAborted();
    scanned.keys++;
    const newest = decodeLatest(entry.value).ts;
    if (newest > ts) return { key: decodeBytes(entry.key, 1).key, ts: newest };
  }
  return undefined;
}

/** Per key, the newest version at or below `ts` (deletes included), keys ascending. */
async function* forwardVisible(reader: KvReader, range: KeyRange, ts: Timestamp, batchSize?: number) {
  let decided: Buffer | undefined;
  for await (const version of versions(reader, range, batchSize)) {
    if (version.ts > ts) continue;
    if (decided && compareKeys(decided, version.key) === 0) continue;
    decided = version.key;
    yield version;
  }
}

/** The same, keys descending: a reverse walk meets each key's versions oldest first. */
async function* reverseVisible(reader: KvReader, range: KeyRange, ts: Timestamp, batchSize?: number) {
  const bounds = mvccRange(range);
  let candidate: MvccVersion | undefined;
  let current: Buffer | undefined;
  for await (const entry of reader.iterate(CF_DEFAULT, {
    ...bounds,
    reverse: true,
    ...(batchSize ? { batchSize } : {}),
  })) {
    const version = decodeVersion(entry.key, entry.value);
    if (current && compareKeys(current, version.key) !== 0) {
      if (candidate) yield candidate;
      candidate = undefined;
    }
    current = version.key;
    if (version.ts <= ts) candidate = version;
  }
  if (candidate) yield candidate;
}

/**
 * For incremental backup: per key, the newest change committed in `(beginTs, endTs]`, deletes
 * included, in key order.
 */
export async function* mvccIncrementalScan(
  reader: KvReader,
  range: KeyRange,
  beginTs: Timestamp,
  endTs: Timestamp,
): AsyncIterable<MvccVersion> {
  let decided: Buffer | undefined;
  for await (const version of versions(reader, range)) {
    if (version.ts > endTs || version.ts <= beginTs) continue;
    if (decided && compareKeys(decided, version.key) === 0) continue;
    decided = version.key;
    yield version;
  }
}

export interface MvccGcResult {
  deleted: number;
  /** Bytes (key and value) of the versions deleted. */
  deletedBytes: number;
  /**
   * Deletes GC removed that were their key's newest version when it looked: their entries in `latest`
   * are for `dropLatestDeletes`, which must run where no write to the keys can interleave.
   */
  newestDeletes: Array<{ key: Buffer; ts: Timestamp }>;
}

export interface MvccGcOptions {
  /** Awaited with the bytes of each batch of versions read before it goes on (a rate limit). */
  throttle?: (bytes: number) => Promise<void>;
}

const GC_BATCH = 1024;

/**
 * Drops the versions no reader at or above `safePoint` can see: per key, everything older than the
 * newest version at or below the safe point, and that version too when it is a delete, together with
 * everything under it in one atomic batch.
 */
export async function mvccGc(
  engine: KvEngine,
  range: KeyRange,
  safePoint: Timestamp,
  options: MvccGcOptions = {},
): Promise<MvccGcResult> {
  const snapshot = engine.snapshot();
  let batch = new WriteBatch();
  let deleted = 0;
  let deletedBytes = 0;
  let readBytes = 0;
  let read = 0;
  const newestDeletes: MvccGcResult['newestDeletes'] = [];
  let current: Buffer | undefined;
  let seenVisible = false;
  /** This key's version visible at the safe point is a delete: it goes with all it drops, at once. */
  let dropsDelete = false;
  const write = async () => {
    await engine.write(batch);
    batch = new WriteBatch();
  };
  try {
    for await (const version of versions(snapshot, range, GC_BATCH)) {
      const bytes = version.key.length + (version.value?.length ?? 0) + TS_SUFFIX_BYTES;
      readBytes += bytes;
      if (++read % GC_BATCH === 0 && options.throttle) {
        await options.throttle(readBytes);
        readBytes = 0;
      }
      const newest = !current || compareKeys(current, version.key) !== 0;
      if (newest) {
        if (batch.count >= GC_BATCH) await write();
        current = version.key;
        seenVisible = false;
        dropsDelete = false;
      }
      if (version.ts > safePoint) continue;
      if (seenVisible || version.value === undefined) {
        if (newest) newestDeletes.push({ key: version.key, ts: version.ts });
        if (!seenVisible) dropsDelete = true;
        batch.delete(CF_DEFAULT, mvccKey(version.key, version.ts));
        deleted++;
        deletedBytes += bytes;
        // A delete dropped in one batch and the versions under it in the next would let a read (or a
        // flush's snapshot) see an older value come back meanwhile; versions under a visible value can
        // go in as many batches as they fill.
        if (batch.count >= GC_BATCH && !dropsDelete) await write();
      }
      seenVisible = true;
    }
    await write();
  } finally {
    await snapshot.release();
  }
  return { deleted, deletedBytes, newestDeletes };
}

/**
 * Removes the `latest` copies of deletes GC dropped, unless a newer version has replaced them since.
 * The check and the removal are not atomic: call it only where no write to these keys can run in
 * between (the region's worker, between write batches).
 */
export async function dropLatestDeletes(
  engine: KvEngine,
  deletes: MvccGcResult['newestDeletes'],
): Promise<number> {
  if (deletes.length === 0) return 0;
  const now = await latestTimestamps(
    engine,
    deletes.map((d) => d.key),
  );
  const batch = new WriteBatch();
  deletes.forEach((d, i) => {
    if (now[i] === d.ts) batch.delete(CF_LATEST, latestKey(d.key));
  });
  await engine.write(batch);
  return batch.count;
}

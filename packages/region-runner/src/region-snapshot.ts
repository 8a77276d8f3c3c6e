import {
  ChecksumMismatchError,
  CorruptFileError,
  NotFoundError,
  compareKeys,
  type KeyRange,
  type RegionId,
} from '@regionstore/core';
import {
  CF_DEFAULT,
  CF_LATEST,
  CF_LOCK,
  CF_WRITE,
  WriteBatch,
  mvccRange,
  readRegionLocalState,
  regionStateKey,
  newestVersionPicker,
  type CfName,
  type EngineSnapshot,
  type KvEngine,
  type KvEntry,
  type RegionApplyState,
  type RegionLocalState,
} from '@regionstore/engine';
import type { ExternalStorage } from '@regionstore/storage-backends';
import {
  verifySnapshotFile,
  writeSnapshotFile,
  SnapshotFileReader,
  type CompressionType,
} from '@regionstore/region-files';

/**
 * The CFs a region snapshot carries, in file order. Each entry's key is the CF's position in this
 * list (one byte) followed by the engine key, so one sorted file holds all of them.
 */
export const SNAPSHOT_CFS: readonly CfName[] = [CF_DEFAULT, CF_LOCK, CF_WRITE];

/** Names a snapshot: the region, and the term and WAL index it was taken at. */
export interface SnapshotKey {
  regionId: RegionId;
  term: number;
  index: number;
}

export interface GeneratedSnapshot {
  key: SnapshotKey;
  /** Object name in snapshot storage. */
  name: string;
  range: KeyRange;
  applyState: RegionApplyState;
  size: number;
  kvCount: number;
  rawBytes: number;
  sha256: string;
}

/**
 * Without a tag, deterministic: a retried generation overwrites the same object and an apply can find
 * it by term and index. A region's flushes tag theirs (epoch version and a random tail) and record the
 * name in the manifest: a flush never replaces a file a committed manifest names, however late it runs
 * (a leader paused across a split that was then abandoned would otherwise write half the range over
 * the whole range's file at the same term and entry).
 */
export function snapshotName(key: SnapshotKey, tag?: string): string {
  return `snapshots/${key.regionId.value}/${key.term}-${key.index}${tag ? `-${tag}` : ''}.rsst`;
}

/** A region's data in every data CF: all MVCC versions of the user keys in its range. */
export function regionDataBounds(range: KeyRange): { start: Buffer; end: Buffer } {
  return mvccRange(range);
}

export async function requireRegionLocalState(
  reader: EngineSnapshot | KvEngine,
  regionId: RegionId,
): Promise<RegionLocalState> {
  const state = await readRegionLocalState(reader, regionId);
  if (!state) {
    throw new NotFoundError(
      `failed to get region state of ${regionId.toString()} from key ${regionStateKey(regionId).toString('hex')}`,
      { regionId: regionId.toString(), key: regionStateKey(regionId).toString('hex') },
    );
  }
  return state;
}

async function* regionEntries(
  snapshot: EngineSnapshot,
  range: KeyRange,
  signal: AbortSignal | undefined,
): AsyncIterable<KvEntry> {
  const bounds = regionDataBounds(range);
  for (const [position, cf] of SNAPSHOT_CFS.entries()) {
    const tag = Buffer.from([position]);
    for await (const entry of snapshot.iterate(cf, { ...bounds, batchSize: 1024 })) {
      signal?.throwIfAborted();
      yield { key: Buffer.concat([tag, entry.key]), value: entry.value };
    }
  }
}

export interface GenerateOptions {
  regionId: RegionId;
  term: number;
  applyState: RegionApplyState;
  signal?: AbortSignal;
  compression: CompressionType;
  tag?: string;
}

/**
 * Streams the region's data at `snapshot` into a `.rsst` object. The storage write is all-or-nothing,
 * so a cancelled or failed generation leaves no object behind.
 */
export async function generateRegionSnapshot(
  snapshot: EngineSnapshot,
  storage: ExternalStorage,
  options: GenerateOptions,
): Promise<GeneratedSnapshot> {
  const { regionId, term, applyState } = options;
  const local = await requireRegionLocalState(snapshot, regionId);
  const key: SnapshotKey = { regionId, term, index: applyState.appliedIndex };
  const name = snapshotName(key, options.tag);
  const file = writeSnapshotFile(regionEntries(snapshot, local.range, options.signal), {
    compression: options.compression,
    meta: {
      region: regionId.toString(),
      term,
      appliedIndex: applyState.appliedIndex,
      truncatedIndex: applyState.truncatedIndex,
      truncatedTerm: applyState.truncatedTerm,
    },
  });
  const { size } = await storage.write(name, file.stream);
  const info = await file.info;
  return {
    key,
    name,
    range: local.range,
    applyState: { ...applyState },
    size,
    kvCount: info.kvCount,
    rawBytes: info.rawBytes,
    sha256: info.sha256,
  };
}

/**
 * Reads the whole object and checks every block and the footer, and its sha256 against `sha256` when
 * given (what the manifest naming it recorded); fails if it is missing, damaged or another file.
 */
export async function verifyRegionSnapshot(
  storage: ExternalStorage,
  name: string,
  regionId: RegionId,
  sha256?: string,
): Promise<void> {
  if (!(await storage.exists(name))) {
    throw new NotFoundError(`missing snapshot file ${name}`, { name });
  }
  const info = await verifySnapshotFile(await storage.read(name), name);
  if (info.meta['region'] !== regionId.toString()) {
    throw new CorruptFileError(
      `${name} holds region ${String(info.meta['region'])}, not ${regionId.toString()}`,
      {
        name,
      },
    );
  }
  if (sha256 !== undefined && info.sha256 !== sha256) {
    throw new ChecksumMismatchError(
      `${name} is not the file its manifest names: sha256 ${info.sha256}, recorded ${sha256}`,
      { name, expected: sha256, actual: info.sha256 },
    );
  }
}

export interface LoadOptions {
  /** Engine keys outside `[start, end)` are skipped (a file with more than the region: a split's). */
  bounds: { start: Buffer; end: Buffer };
  /** Bytes per engine batch. */
  batchBytes: number;
  /** Called after each batch (the apply's abort check). */
  between: () => void;
}

/**
 * Writes a verified snapshot object's entries within `bounds` into the engine in batches, then
 * flushes the data CFs so the snapshot lands in SST files, as TiKV's ingestion does. The `latest` CF
 * is not in the file: it is derived from the versions, which come per key newest first, so the first
 * of each key is its newest.
 */
export async function loadRegionSnapshot(
  engine: KvEngine,
  storage: ExternalStorage,
  name: string,
  { bounds, batchBytes, between }: LoadOptions,
): Promise<number> {
  const reader = new SnapshotFileReader(await storage.read(name), name);
  let batch = new WriteBatch();
  let count = 0;
  const newest = newestVersionPicker();
  for await (const entry of reader.entries()) {
    const cf = SNAPSHOT_CFS[entry.key[0]!];
    if (!cf) throw new CorruptFileError(`${name}: entry with unknown CF tag ${entry.key[0]}`, { name });
    const key = entry.key.subarray(1);
    if (compareKeys(key, bounds.start) < 0 || compareKeys(key, bounds.end) >= 0) continue;
    batch.put(cf, key, entry.value);
    const latest = cf === CF_DEFAULT ? newest(key, entry.value) : undefined;
    if (latest) batch.put(CF_LATEST, latest.key, latest.value);
    count++;
    if (batch.dataSize >= batchBytes) {
      await engine.write(batch);
      batch = new WriteBatch();
      between();
    }
  }
  await engine.write(batch);
  for (const cf of [...SNAPSHOT_CFS, CF_LATEST] as const) await engine.flush(cf);
  return count;
}

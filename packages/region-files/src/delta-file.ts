import {
  ChecksumMismatchError,
  NotFoundError,
  rangeContains,
  type KeyRange,
  type RegionId,
} from '@regionstore/core';
import {
  VersionWriter,
  decodeVersion,
  storedValue,
  tsSuffix,
  versionKey,
  type KvEngine,
  type KvEntry,
} from '@regionstore/engine';
import type { LogStore } from '@regionstore/log-store';
import type { ExternalStorage } from '@regionstore/storage-backends';
import type { CompressionType } from './compression';
import type { DeltaFile } from './manifest';
import { SnapshotFileReader, writeSnapshotFile } from './snapshot-file';
import { decodeWalRecord } from './wal-entry';

/**
 * A delta file holds versions as the `default` CF stores them, each key behind the one-byte tag of
 * `default` in a snapshot file (SNAPSHOT_CFS), so the same reader and tools read both.
 */
const DEFAULT_CF_TAG = 0;
/** Versions per engine batch when a delta is applied. */
const APPLY_BATCH = 1024;

/** Deterministic, so a retried flush overwrites the same object. */
export function deltaName(regionId: RegionId, term: number, fromEntryId: number, toEntryId: number): string {
  return `deltas/${regionId.value}/${term}-${fromEntryId}-${toEntryId}.rsst`;
}

/**
 * The versions the WAL entries after `fromEntryId` up to `toEntryId` wrote, sorted by engine key. They
 * are what those entries applied to the engine, whatever happened to the engine since, so a delta is
 * exact even while writes go on. Bounded by the region's unflushed WAL (the write buffer).
 */
async function deltaEntries(
  wal: LogStore,
  regionId: RegionId,
  fromEntryId: number,
  toEntryId: number,
): Promise<KvEntry[]> {
  const byKey = new Map<string, KvEntry>();
  let last = fromEntryId;
  for await (const entries of wal.read(regionId, fromEntryId + 1, { toId: toEntryId })) {
    for (const entry of entries) {
      last = entry.id;
      const record = decodeWalRecord(entry.data, entry.id);
      const suffix = tsSuffix(record.ts);
      for (const m of record.mutations) {
        const key = versionKey(m.key, suffix, DEFAULT_CF_TAG);
        const value = storedValue(m.op === 'put' ? m.value : undefined);
        // One version per key and ts: a later entry at the same ts (a resent append) says the same.
        byKey.set(key.toString('latin1'), { key, value });
      }
    }
  }
  // A delta short of its end would leave those entries' writes out of every load of the region.
  if (last !== toEntryId) {
    throw new NotFoundError(
      `WAL of region ${regionId.toString()} ends at entry ${last}, before ${toEntryId} that the delta needs`,
      { regionId: regionId.toString(), lastEntryId: last, toEntryId },
    );
  }
  // Sorted by the latin1 strings, whose code units are the key's bytes, so their order is the keys'
  // byte order: the engine's native string sort instead of a comparator calling Buffer.compare
  // (which took about 5 % of a node's CPU under writes).
  return [...byKey.keys()].sort().map((id) => byKey.get(id)!);
}

/** Writes the delta of the WAL entries after `fromEntryId` up to `toEntryId` to the object store. */
export async function writeDelta(
  deps: { wal: LogStore; storage: ExternalStorage; compression: CompressionType },
  region: { regionId: RegionId; term: number },
  fromEntryId: number,
  toEntryId: number,
): Promise<DeltaFile> {
  const { regionId, term } = region;
  const entries = await deltaEntries(deps.wal, regionId, fromEntryId, toEntryId);
  const name = deltaName(regionId, term, fromEntryId, toEntryId);
  const file = writeSnapshotFile(entries, {
    compression: deps.compression,
    meta: { region: regionId.toString(), kind: 'delta', fromEntryId, toEntryId },
  });
  const { size } = await deps.storage.write(name, file.stream);
  const info = await file.info;
  return { name, fromEntryId, toEntryId, sha256: info.sha256, size, kvCount: info.kvCount };
}

/**
 * Applies a delta file's versions of keys in `range` to the engine (a split's files hold more). The
 * whole file is read and checked (block checksums, footer, the manifest's sha256) before any version is
 * written, so a damaged file changes nothing. Versions may sit below what a key holds (restored
 * versions): `latest` keeps the newest.
 */
export async function applyDelta(
  engine: KvEngine,
  storage: ExternalStorage,
  delta: DeltaFile,
  range: KeyRange,
): Promise<void> {
  const reader = new SnapshotFileReader(await storage.read(delta.name), delta.name);
  const versions = [];
  for await (const entry of reader.entries()) {
    const version = decodeVersion(entry.key.subarray(1), entry.value);
    if (rangeContains(range, version.key)) versions.push(version);
  }
  if (reader.info?.sha256 !== delta.sha256) {
    throw new ChecksumMismatchError(
      `${delta.name}: sha256 ${reader.info?.sha256} differs from the manifest's ${delta.sha256}`,
      { file: delta.name },
    );
  }
  for (let at = 0; at < versions.length; at += APPLY_BATCH) {
    const writer = new VersionWriter(engine);
    await writer.writeOlder(versions.slice(at, at + APPLY_BATCH));
    await engine.write(writer.batch);
  }
}

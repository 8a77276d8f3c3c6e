import { CorruptFileError, MAX_TIMESTAMP, type Timestamp } from '@regionstore/core';
import { CF_DEFAULT, CF_LATEST, CF_RAFT } from './cf';
import { DATA_MAX_KEY, DATA_MIN_KEY, LATEST_BUILT_KEY, TS_SUFFIX_BYTES, encodeBytes } from './data-key';
import type { KvEngine, KvReader } from './kv-engine';
import { WriteBatch } from './write-batch';

/**
 * The `latest` CF holds, per user key, where its newest version is: the key is the version key without
 * its timestamp suffix, the value the version's type byte (`P`ut or `D`elete) followed by that suffix
 * (the inverted commit ts). A read at the latest timestamp is then a point get here and, for a put, a
 * point get of that version in `default` instead of an iterator seek; a scan at the latest timestamp
 * meets each key once. It holds no copy of the value: a copy doubled the disk a node needs (and the
 * bytes every write puts in RocksDB) for one saved point get.
 *
 * Invariant: for every user key with versions in `default`, `latest` names the one with the highest
 * commit ts (and nothing for a key without versions, except a delete GC has not yet dropped here).
 * Every writer keeps it: the write path and WAL replay write versions in commit-ts order, so each
 * overwrites `latest`; writes at older timestamps (a restore) go through `VersionWriter.writeOlder`; a
 * snapshot load derives `latest` from the versions it loads; GC drops a `latest` delete only from the
 * region's worker, between writes.
 */

export function latestKey(key: Buffer): Buffer {
  return Buffer.concat([DATA_MIN_KEY, encodeBytes(key)]);
}

/** The `latest` entry for a version stored in `default` (its raw key and value). */
export function latestEntryOf(versionKey: Buffer, versionValue: Buffer): { key: Buffer; value: Buffer } {
  const split = versionKey.length - TS_SUFFIX_BYTES;
  return {
    key: versionKey.subarray(0, split),
    value: Buffer.concat([versionValue.subarray(0, 1), versionKey.subarray(split)]),
  };
}

/** The key in `default` of the version a `latest` entry names: its key followed by its ts suffix. */
export function latestVersionKey(latestEntryKey: Buffer, raw: Buffer): Buffer {
  return Buffer.concat([latestEntryKey, raw.subarray(1)]);
}

/**
 * For versions read in key order (each key's versions newest first, as `default` and snapshot files
 * hold them): a function answering the `latest` entry for the first version of each key, and
 * undefined for the older ones.
 */
export function newestVersionPicker(): (
  versionKey: Buffer,
  versionValue: Buffer,
) => { key: Buffer; value: Buffer } | undefined {
  let previous: Buffer | undefined;
  return (versionKey, versionValue) => {
    const userKey = versionKey.subarray(0, versionKey.length - TS_SUFFIX_BYTES);
    const first = !previous?.equals(userKey);
    previous = userKey;
    return first ? latestEntryOf(versionKey, versionValue) : undefined;
  };
}

/** A `latest` value: the commit ts and the version's type byte. */
export function decodeLatest(raw: Buffer): { ts: Timestamp; type: number } {
  if (raw.length !== 1 + TS_SUFFIX_BYTES)
    throw new CorruptFileError(`bad latest-version value ${raw.toString('hex')}`);
  return { ts: MAX_TIMESTAMP - raw.readBigUInt64BE(1), type: raw[0]! };
}

/** Each key's newest commit ts per the `latest` CF; undefined for a key with none. */
export async function latestTimestamps(
  reader: KvReader,
  keys: Buffer[],
): Promise<Array<Timestamp | undefined>> {
  const raw = await reader.getMany(CF_LATEST, keys.map(latestKey));
  return raw.map((value) => (value === undefined ? undefined : decodeLatest(value).ts));
}

/**
 * The format of `latest` the marker names: 1 held a copy of each value, 2 only where it is. An engine
 * with an older marker (or none: written before the CF existed) is rebuilt once.
 */
const LATEST_FORMAT = 2;

/**
 * Fills the `latest` CF from `default` once, for an engine written before the CF existed or in its
 * earlier format (a new engine only gets the marker). Every key with versions gets its entry again;
 * the only others, deletes GC has not yet dropped, are the same bytes in both formats. Runs at open,
 * before anything reads or writes.
 */
export async function ensureLatestBuilt(engine: KvEngine): Promise<number> {
  if ((await engine.get(CF_RAFT, LATEST_BUILT_KEY))?.[0] === LATEST_FORMAT) return 0;
  let batch = new WriteBatch();
  let built = 0;
  const newest = newestVersionPicker();
  const bounds = { start: DATA_MIN_KEY, end: DATA_MAX_KEY, batchSize: 1024 };
  for await (const entry of engine.iterate(CF_DEFAULT, bounds)) {
    const latest = newest(entry.key, entry.value);
    if (!latest) continue;
    batch.put(CF_LATEST, latest.key, latest.value);
    built++;
    if (batch.count >= 1024) {
      await engine.write(batch);
      batch = new WriteBatch();
    }
  }
  await engine.write(batch.put(CF_RAFT, LATEST_BUILT_KEY, Buffer.from([LATEST_FORMAT])));
  return built;
}

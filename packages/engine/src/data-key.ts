import {
  CorruptFileError,
  MAX_TIMESTAMP,
  type KeyRange,
  type RegionId,
  type Timestamp,
} from '@regionstore/core';

/**
 * Key layout, after TiKV: user data lives under the `z` prefix, region-local state under 0x01.
 * MVCC versions put the user key in memcomparable form (so a key is never a prefix of another's
 * encoding) followed by the inverted commit timestamp (so the newest version sorts first).
 */
export const DATA_PREFIX = 0x7a; // 'z'
export const LOCAL_PREFIX = 0x01;
/** First key after every data key. */
export const DATA_MAX_KEY = Buffer.from([DATA_PREFIX + 1]);
export const DATA_MIN_KEY = Buffer.from([DATA_PREFIX]);

export function dataKey(key: Buffer): Buffer {
  return Buffer.concat([DATA_MIN_KEY, key]);
}

export function originKey(key: Buffer): Buffer {
  if (key[0] !== DATA_PREFIX) throw new CorruptFileError(`not a data key: ${key.toString('hex')}`);
  return key.subarray(1);
}

/** `[start, end)` of user keys as data keys; an unbounded end becomes the end of the data space. */
export function dataRange(range: KeyRange): { start: Buffer; end: Buffer } {
  return { start: dataKey(range.start), end: range.end.length === 0 ? DATA_MAX_KEY : dataKey(range.end) };
}

const GROUP = 8;
export const TS_SUFFIX_BYTES = 8;
const MARKER = 0xff;

function encodedLength(key: Buffer): number {
  return (Math.floor(key.length / GROUP) + 1) * (GROUP + 1);
}

/** Writes the memcomparable form of `key` into `out` at `at`; returns the offset after it. */
function encodeBytesInto(key: Buffer, out: Buffer, at: number): number {
  const end = at + encodedLength(key);
  for (let from = 0; at < end;) {
    const take = Math.min(GROUP, key.length - from);
    // Byte by byte: Buffer#copy of a few bytes costs more than the loop (this runs per written key)
    for (let i = 0; i < take; i++) out[at + i] = key[from + i]!;
    out.fill(0, at + take, at + GROUP);
    out[at + GROUP] = MARKER - (GROUP - take);
    at += GROUP + 1;
    from += take;
  }
  return at;
}

/** Memcomparable bytes: 8-byte groups, each followed by 0xff minus its padding. */
export function encodeBytes(key: Buffer): Buffer {
  const out = Buffer.allocUnsafe(encodedLength(key));
  encodeBytesInto(key, out, 0);
  return out;
}

/** Decodes memcomparable bytes at `offset`; returns the key and the offset after it. */
export function decodeBytes(buf: Buffer, offset = 0): { key: Buffer; next: number } {
  const parts: Buffer[] = [];
  for (let at = offset; ; at += GROUP + 1) {
    if (at + GROUP + 1 > buf.length) throw new CorruptFileError('truncated memcomparable key');
    const pad = MARKER - buf[at + GROUP]!;
    if (pad < 0 || pad > GROUP) throw new CorruptFileError('bad memcomparable marker');
    parts.push(buf.subarray(at, at + GROUP - pad));
    if (pad !== 0) return { key: Buffer.concat(parts), next: at + GROUP + 1 };
  }
}

/** The 8 bytes that end every version key at `ts`: the inverted ts, so newer versions sort first. */
export function tsSuffix(ts: Timestamp): Buffer {
  const out = Buffer.allocUnsafe(TS_SUFFIX_BYTES);
  out.writeBigUInt64BE(MAX_TIMESTAMP - ts);
  return out;
}

/**
 * The version key of `key` whose ts suffix (see `tsSuffix`) is `suffix`; with `tag`, that byte comes
 * first (snapshot and delta files put their CF's tag before each key).
 */
export function versionKey(key: Buffer, suffix: Buffer, tag?: number): Buffer {
  // One allocation from Node's pool per version key: this runs for every key written or replayed.
  const lead = tag === undefined ? 0 : 1;
  const out = Buffer.allocUnsafe(lead + 1 + encodedLength(key) + TS_SUFFIX_BYTES);
  if (tag !== undefined) out[0] = tag;
  out[lead] = DATA_PREFIX;
  const at = encodeBytesInto(key, out, lead + 1);
  for (let i = 0; i < TS_SUFFIX_BYTES; i++) out[at + i] = suffix[i]!;
  return out;
}

export function mvccKey(key: Buffer, ts: Timestamp): Buffer {
  return versionKey(key, tsSuffix(ts));
}

export function decodeMvccKey(buf: Buffer): { key: Buffer; ts: Timestamp } {
  if (buf[0] !== DATA_PREFIX) throw new CorruptFileError(`not an MVCC key: ${buf.toString('hex')}`);
  const { key, next } = decodeBytes(buf, 1);
  if (next + TS_SUFFIX_BYTES !== buf.length)
    throw new CorruptFileError(`bad MVCC key length: ${buf.toString('hex')}`);
  return { key, ts: MAX_TIMESTAMP - buf.readBigUInt64BE(next) };
}

/** Bounds in the MVCC key space covering every version of every user key in `[start, end)`. */
export function mvccRange(range: KeyRange): { start: Buffer; end: Buffer } {
  return {
    start: Buffer.concat([DATA_MIN_KEY, encodeBytes(range.start)]),
    end: range.end.length === 0 ? DATA_MAX_KEY : Buffer.concat([DATA_MIN_KEY, encodeBytes(range.end)]),
  };
}

function localKey(kind: number, regionId: RegionId, suffix: number): Buffer {
  const out = Buffer.alloc(11);
  out[0] = LOCAL_PREFIX;
  out[1] = kind;
  out.writeBigUInt64BE(regionId.value, 2);
  out[10] = suffix;
  return out;
}

const REGION_STATE_KIND = 0x03;
const REGION_STATE_SUFFIX = 0x01;

/** Region local state (range, epoch, state) in the `raft` CF. */
export function regionStateKey(regionId: RegionId): Buffer {
  return localKey(REGION_STATE_KIND, regionId, REGION_STATE_SUFFIX);
}

/** Bounds of every region's local state key (and only of keys of that kind). */
export const REGION_STATE_KEYS = {
  start: Buffer.from([LOCAL_PREFIX, REGION_STATE_KIND]),
  end: Buffer.from([LOCAL_PREFIX, REGION_STATE_KIND + 1]),
};

export function isRegionStateKey(key: Buffer): boolean {
  return key.length === 11 && key[1] === REGION_STATE_KIND && key[10] === REGION_STATE_SUFFIX;
}

/** Apply state (applied WAL index, truncation point) in the `raft` CF. */
export function applyStateKey(regionId: RegionId): Buffer {
  return localKey(0x02, regionId, 0x03);
}

/** Raft state saved while a snapshot is being applied; removed when the apply finishes. */
export function snapshotRaftStateKey(regionId: RegionId): Buffer {
  return localKey(0x02, regionId, 0x04);
}

const PENDING_DELETE_KIND = 0x05;

/** Which cluster this engine's data belongs to (TiKV's store ident), in the `raft` CF. */
export const STORE_IDENT_KEY = Buffer.from([LOCAL_PREFIX, 0x07]);

/** Set in the `raft` CF once the `latest` CF holds every key's newest version (see latest.ts). */
export const LATEST_BUILT_KEY = Buffer.from([LOCAL_PREFIX, 0x06]);

/**
 * A destroyed region's range waiting for deletion, in the `raft` CF, keyed by its start (data) key so
 * the records come back in start-key order after a restart.
 */
export function pendingDeleteKey(startKey: Buffer): Buffer {
  return Buffer.concat([Buffer.from([LOCAL_PREFIX, PENDING_DELETE_KIND]), startKey]);
}

/** Bounds of every `pendingDeleteKey`. */
export const PENDING_DELETE_KEYS = {
  start: Buffer.from([LOCAL_PREFIX, PENDING_DELETE_KIND]),
  end: Buffer.from([LOCAL_PREFIX, PENDING_DELETE_KIND + 1]),
};

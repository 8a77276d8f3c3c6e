import { compareKeys, keyRange, type KeyRange } from '@regionstore/core';
import { CF_DEFAULT } from './cf';
import { decodeMvccKey, mvccRange } from './data-key';
import type { KvEngine, KvReader } from './kv-engine';

/** Every this many versions the exact scan remembers where it is (bounds the memory it needs). */
const SAMPLE_EVERY = 128;
/**
 * Memtable estimates count entries, not their sizes: when memtables hold more than this share of the
 * range, they are flushed first (a flush that was coming anyway) so the estimates come from files.
 */
const MEMTABLE_SHARE_TO_FLUSH = 1 / 8;
/** Below this many bytes (RocksDB's estimate) the range is scanned: exact, and quick at that size. */
const EXACT_BELOW_BYTES = 16 * 1024 * 1024;
/** The bisection stops once the left part is this close to half the range (a fraction of the range). */
const TOLERANCE = 1 / 64;
/** At most this many size estimates per split check (each is a native call of microseconds). */
const MAX_PROBES = 256;
/** Probe keys grow no longer than this (keys sharing a longer prefix are found by the last probe). */
const MAX_PROBE_BYTES = 64;

export interface MiddleKeyOptions {
  /** Below this many bytes the range's versions are scanned instead of bisected (tests lower it). */
  exactBelowBytes?: number;
}

/**
 * A user key near the middle of a range's versions by bytes: TiKV's half split check. TiKV reads it
 * from SST properties; the binding exposes none, but RocksDB's size estimate of a key range (index
 * blocks and memtable statistics, no data read) lets the check bisect the key space, so it costs the
 * same for a 1 GiB region as for a 1 MiB one. Small ranges are scanned. Undefined when no key past
 * the range's start has versions: a region of one key cannot be split.
 */
export async function middleKey(
  engine: KvEngine,
  range: KeyRange,
  options: MiddleKeyOptions = {},
): Promise<Buffer | undefined> {
  const bounds = mvccRange(range);
  let total = await engine.approximateSize(CF_DEFAULT, bounds.start, bounds.end);
  if (total >= (options.exactBelowBytes ?? EXACT_BELOW_BYTES)) {
    const inMemory = await engine.approximateSize(CF_DEFAULT, bounds.start, bounds.end, 'memtables');
    if (inMemory > total * MEMTABLE_SHARE_TO_FLUSH) {
      await engine.flush(CF_DEFAULT);
      total = await engine.approximateSize(CF_DEFAULT, bounds.start, bounds.end);
    }
    const probe = await bisectHalf(engine, range, total);
    const key = probe && (await keyNear(engine, range, probe));
    if (key) return key;
  }
  return scanMiddleKey(engine, range);
}

/** The first probe key at which RocksDB estimates half the range's bytes lie to its left. */
async function bisectHalf(engine: KvEngine, range: KeyRange, total: number): Promise<Buffer | undefined> {
  let width = Math.max(range.start.length, range.end.length) + 4;
  let lo = keyValue(range.start, width);
  let hi = range.end.length > 0 ? keyValue(range.end, width) : 1n << BigInt(8 * width);
  let found: Buffer | undefined;
  for (let probes = 0; probes < MAX_PROBES; probes++) {
    if (hi - lo < 2n) {
      // The bytes lie between two adjacent probe keys: look one byte deeper.
      if (width >= MAX_PROBE_BYTES) break;
      width += 1;
      lo <<= 8n;
      hi <<= 8n;
    }
    const mid = (lo + hi) / 2n;
    const key = valueKey(mid, width);
    const left = mvccRange(keyRange(range.start, key));
    const bytes = await engine.approximateSize(CF_DEFAULT, left.start, left.end);
    if (bytes < total / 2) lo = mid;
    else {
      hi = mid;
      found = key;
    }
    if (Math.abs(bytes - total / 2) <= total * TOLERANCE) return key;
  }
  return found; // none reached half (estimates that never add up): the caller scans
}

/**
 * The first user key with versions at or after `probe` in the range, else the last one before it;
 * either must lie past the range's start (a split key leaves both halves non-empty).
 */
async function keyNear(engine: KvEngine, range: KeyRange, probe: Buffer): Promise<Buffer | undefined> {
  const beforeEnd = range.end.length === 0 || compareKeys(probe, range.end) < 0;
  const at = beforeEnd ? probe : range.end;
  const after = mvccRange(keyRange(at, range.end));
  const before = mvccRange(keyRange(range.start, at));
  for (const options of [
    ...(beforeEnd ? [{ start: after.start, end: after.end, limit: 1 }] : []),
    { start: before.start, end: before.end, limit: 1, reverse: true },
  ]) {
    for await (const entry of engine.iterate(CF_DEFAULT, options)) {
      const key = decodeMvccKey(entry.key).key;
      if (compareKeys(key, range.start) > 0) return key;
    }
  }
  return undefined;
}

/** `key` right-padded with zero bytes (or cut) to `width` bytes, as a number. */
function keyValue(key: Buffer, width: number): bigint {
  const padded = Buffer.alloc(width);
  key.copy(padded, 0, 0, Math.min(key.length, width));
  return BigInt(`0x${padded.toString('hex') || '0'}`);
}

function valueKey(value: bigint, width: number): Buffer {
  return Buffer.from(value.toString(16).padStart(width * 2, '0'), 'hex');
}

/** Reads every version of the range once, keeping every SAMPLE_EVERY-th key with the bytes before it. */
async function scanMiddleKey(reader: KvReader, range: KeyRange): Promise<Buffer | undefined> {
  const bounds = mvccRange(range);
  const samples: Array<{ key: Buffer; before: number }> = [];
  let total = 0;
  let seen = 0;
  for await (const entry of reader.iterate(CF_DEFAULT, {
    start: bounds.start,
    end: bounds.end,
    batchSize: 1024,
  })) {
    if (seen++ % SAMPLE_EVERY === 0) samples.push({ key: decodeMvccKey(entry.key).key, before: total });
    total += entry.key.length + entry.value.length;
  }
  const past = (key: Buffer) => compareKeys(key, range.start) > 0;
  const middle = samples.find((s) => s.before >= total / 2 && past(s.key));
  // Few versions: the last sample past the start still splits the range in two non-empty parts.
  return middle?.key ?? samples.filter((s) => past(s.key)).at(-1)?.key;
}

import { compareKeys, type KeyRange } from '@regionstore/core';
import { CF_DEFAULT } from './cf';
import { decodeMvccKey, mvccRange } from './data-key';
import type { KvReader } from './kv-engine';

/** Every this many versions the scan remembers where it is (bounds the memory a large region needs). */
const SAMPLE_EVERY = 128;

/**
 * A user key near the middle of a range's versions by bytes (TiKV's half split check, which reads
 * SST properties; the binding exposes none, so this scans the range once, keeping every
 * SAMPLE_EVERY-th key with the bytes before it). Undefined when no key past the range's start has
 * versions: a region of one key cannot be split.
 */
export async function middleKey(reader: KvReader, range: KeyRange): Promise<Buffer | undefined> {
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

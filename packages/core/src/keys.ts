/**
 * Keys are raw bytes ordered by unsigned byte comparison. A range is `[start, end)`; an empty start
 * means "from the first key" and an empty end means "to the last key".
 */
export interface KeyRange {
  start: Buffer;
  end: Buffer;
}

export const EMPTY_KEY: Buffer = Buffer.alloc(0);

export function compareKeys(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

export function keyRange(start: Buffer | string = EMPTY_KEY, end: Buffer | string = EMPTY_KEY): KeyRange {
  return { start: Buffer.from(start), end: Buffer.from(end) };
}

/** Compares two range ends where empty means +infinity. */
export function compareEnds(a: Uint8Array, b: Uint8Array): number {
  if (a.length === 0) return b.length === 0 ? 0 : 1;
  if (b.length === 0) return -1;
  return compareKeys(a, b);
}

export function rangeContains(range: KeyRange, key: Uint8Array): boolean {
  return compareKeys(key, range.start) >= 0 && (range.end.length === 0 || compareKeys(key, range.end) < 0);
}

/**
 * The item of `sorted` whose range holds `key`: a binary search over items sorted by range start with
 * disjoint ranges (a route table).
 */
export function findByKey<T>(
  sorted: readonly T[],
  key: Uint8Array,
  rangeOf: (item: T) => KeyRange,
): T | undefined {
  let low = 0;
  let high = sorted.length - 1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    const item = sorted[mid]!;
    const range = rangeOf(item);
    if (compareKeys(key, range.start) < 0) high = mid - 1;
    else if (range.end.length > 0 && compareKeys(key, range.end) >= 0) low = mid + 1;
    else return item;
  }
  return undefined;
}

/**
 * Whether the keys just below `end` (for an unbounded end, the last keys of all) are in `range`: the
 * region a reverse scan that stops short of `end` begins in.
 */
export function rangeHoldsEnd(range: KeyRange, end: Uint8Array): boolean {
  if (end.length === 0) return range.end.length === 0;
  return compareKeys(range.start, end) < 0 && compareEnds(end, range.end) <= 0;
}

/** True when `inner` lies entirely inside `outer`. */
export function rangeCovers(outer: KeyRange, inner: KeyRange): boolean {
  return compareKeys(inner.start, outer.start) >= 0 && compareEnds(inner.end, outer.end) <= 0;
}

/** The overlap of two ranges, or undefined when they share no key. */
export function intersectRanges(a: KeyRange, b: KeyRange): KeyRange | undefined {
  const start = compareKeys(a.start, b.start) >= 0 ? a.start : b.start;
  const end = compareEnds(a.end, b.end) <= 0 ? a.end : b.end;
  if (end.length !== 0 && compareKeys(start, end) >= 0) return undefined;
  return { start, end };
}

export function rangesOverlap(a: KeyRange, b: KeyRange): boolean {
  return intersectRanges(a, b) !== undefined;
}

/** The parts of `range` that none of `holes` covers, in key order. */
export function subtractRanges(range: KeyRange, holes: readonly KeyRange[]): KeyRange[] {
  const overlaps = holes
    .map((hole) => intersectRanges(range, hole))
    .filter((hole): hole is KeyRange => hole !== undefined)
    .sort((a, b) => compareKeys(a.start, b.start));
  const parts: KeyRange[] = [];
  let from = range.start;
  for (const hole of overlaps) {
    if (compareKeys(hole.start, from) > 0) parts.push({ start: from, end: hole.start });
    if (hole.end.length === 0) return parts; // the hole runs to the end of the key space
    if (compareKeys(hole.end, from) > 0) from = hole.end;
  }
  if (range.end.length === 0 || compareKeys(from, range.end) < 0) parts.push({ start: from, end: range.end });
  return parts;
}

export function isValidRange(range: KeyRange): boolean {
  return range.end.length === 0 || compareKeys(range.start, range.end) < 0;
}

/** The smallest key strictly greater than every key that starts with `prefix`, or empty (unbounded). */
export function prefixEnd(prefix: Uint8Array): Buffer {
  const out = Buffer.from(prefix);
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i]! < 0xff) {
      out[i]! += 1;
      return out.subarray(0, i + 1);
    }
  }
  return EMPTY_KEY;
}

/** Printable form of a key for logs and messages: ASCII as is, other bytes as \xNN. */
export function escapeKey(key: Uint8Array, maxLength = 64): string {
  let out = '';
  const shown = Math.min(key.length, maxLength);
  for (let i = 0; i < shown; i++) {
    const byte = key[i]!;
    if (byte === 0x5c) out += '\\\\';
    else if (byte >= 0x20 && byte < 0x7f) out += String.fromCharCode(byte);
    else out += `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  if (key.length > shown) out += `...(${key.length} bytes)`;
  return out;
}

export function formatRange(range: KeyRange): string {
  const end = range.end.length === 0 ? '+inf' : `"${escapeKey(range.end)}"`;
  return `["${escapeKey(range.start)}", ${end})`;
}

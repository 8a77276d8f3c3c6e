import {
  compareKeys,
  escapeKey,
  formatRange,
  intersectRanges,
  isValidRange,
  keyRange,
  prefixEnd,
  rangeContains,
  rangeHoldsEnd,
  rangeCovers,
  rangesOverlap,
  subtractRanges,
} from '@regionstore/core';

const r = (start: string, end: string) => keyRange(start, end);

describe('keys and ranges', () => {
  it('compares keys as unsigned bytes, shorter prefix first', () => {
    expect(compareKeys(Buffer.from([0x01]), Buffer.from([0xff]))).toBeLessThan(0);
    expect(compareKeys(Buffer.from('a'), Buffer.from('ab'))).toBeLessThan(0);
    expect(compareKeys(Buffer.from([0x80]), Buffer.from([0x7f]))).toBeGreaterThan(0);
    expect(compareKeys(Buffer.alloc(0), Buffer.alloc(0))).toBe(0);
  });

  it('contains: start inclusive, end exclusive, empty bounds unbounded', () => {
    expect(rangeContains(r('b', 'd'), Buffer.from('b'))).toBe(true);
    expect(rangeContains(r('b', 'd'), Buffer.from('d'))).toBe(false);
    expect(rangeContains(r('b', 'd'), Buffer.from('a'))).toBe(false);
    expect(rangeContains(r('', 'd'), Buffer.alloc(0))).toBe(true);
    expect(rangeContains(r('b', ''), Buffer.from([0xff, 0xff, 0xff]))).toBe(true);
    expect(rangeContains(r('', ''), Buffer.from('anything'))).toBe(true);
  });

  it("holds an end when the keys just below it are the range's: where a reverse scan to it begins", () => {
    const end = (text: string) => Buffer.from(text);
    expect(rangeHoldsEnd(r('b', 'd'), end('d'))).toBe(true);
    expect(rangeHoldsEnd(r('b', 'd'), end('c'))).toBe(true);
    expect(rangeHoldsEnd(r('b', 'd'), end('b'))).toBe(false); // nothing of the range is below b
    expect(rangeHoldsEnd(r('b', 'd'), end('da'))).toBe(false); // d itself is the next range's
    expect(rangeHoldsEnd(r('b', 'd'), Buffer.alloc(0))).toBe(false);
    expect(rangeHoldsEnd(r('b', ''), Buffer.alloc(0))).toBe(true);
    expect(rangeHoldsEnd(r('b', ''), end('zz'))).toBe(true);
  });

  it('intersects with empty bounds acting as infinities', () => {
    expect(intersectRanges(r('a', 'c'), r('b', 'd'))).toEqual(r('b', 'c'));
    expect(intersectRanges(r('', ''), r('b', 'd'))).toEqual(r('b', 'd'));
    expect(intersectRanges(r('', 'c'), r('b', ''))).toEqual(r('b', 'c'));
    expect(intersectRanges(r('b', ''), r('a', ''))).toEqual(r('b', ''));
    expect(intersectRanges(r('a', 'b'), r('b', 'c'))).toBeUndefined();
    expect(intersectRanges(r('c', ''), r('', 'c'))).toBeUndefined();
    expect(rangesOverlap(r('', ''), r('', ''))).toBe(true);
  });

  it('subtracts holes from a range, empty bounds acting as infinities', () => {
    expect(subtractRanges(r('', ''), [r('g', 'p')])).toEqual([r('', 'g'), r('p', '')]);
    expect(subtractRanges(r('a', 'z'), [r('p', ''), r('', 'c')])).toEqual([r('c', 'p')]);
    expect(subtractRanges(r('a', 'z'), [r('b', 'd'), r('c', 'f'), r('x', 'y')])).toEqual([
      r('a', 'b'),
      r('f', 'x'),
      r('y', 'z'),
    ]);
    expect(subtractRanges(r('a', 'm'), [r('m', 'z')])).toEqual([r('a', 'm')]);
    expect(subtractRanges(r('g', ''), [r('', '')])).toEqual([]);
    expect(subtractRanges(r('g', 'p'), [])).toEqual([r('g', 'p')]);
  });

  it('covers and validity', () => {
    expect(rangeCovers(r('', ''), r('a', 'z'))).toBe(true);
    expect(rangeCovers(r('a', 'z'), r('a', ''))).toBe(false);
    expect(rangeCovers(r('a', ''), r('b', ''))).toBe(true);
    expect(isValidRange(r('b', 'a'))).toBe(false);
    expect(isValidRange(r('a', 'a'))).toBe(false);
    expect(isValidRange(r('z', ''))).toBe(true);
  });

  it('prefixEnd is the first key after every key with the prefix', () => {
    expect(prefixEnd(Buffer.from('ab'))).toEqual(Buffer.from('ac'));
    expect(prefixEnd(Buffer.from([0x61, 0xff]))).toEqual(Buffer.from([0x62]));
    expect(prefixEnd(Buffer.from([0xff, 0xff]))).toEqual(Buffer.alloc(0));
  });

  it('escapes non-printable bytes and truncates long keys for logs', () => {
    expect(escapeKey(Buffer.from([0x61, 0x00, 0xff, 0x5c]))).toBe('a\\x00\\xff\\\\');
    expect(escapeKey(Buffer.alloc(100, 0x61), 4)).toBe('aaaa...(100 bytes)');
    expect(formatRange(r('a', ''))).toBe('["a", +inf)');
  });
});

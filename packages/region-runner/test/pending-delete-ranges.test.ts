import { RegionId, isRegionStoreError } from '@regionstore/core';
import { PendingDeleteRanges } from '@regionstore/region-runner';

const b = (text: string): Buffer => Buffer.from(text);
const id = (n: number) => new RegionId(0, n);

function insert(ranges: PendingDeleteRanges, region: number, start: string, end: string, seq: number) {
  ranges.insert(id(region), b(start), b(end), seq);
}

const shape = (
  items: Array<{ regionId: RegionId; startKey: Buffer; endKey: Buffer; staleSequence?: number }>,
) => items.map((r) => [r.regionId.regionNumber, r.startKey.toString(), r.endKey.toString(), r.staleSequence]);

describe('PendingDeleteRanges', () => {
  // Counterpart of the seed's test_pending_delete_ranges: the same ranges and expectations.
  it('drains overlaps, registers the new range, and hands out stale ranges by sequence', () => {
    const ranges = new PendingDeleteRanges();
    const timeout1 = 10;
    insert(ranges, 0, 'a', 'c', timeout1);
    insert(ranges, 0, 'm', 'n', timeout1);
    insert(ranges, 0, 'x', 'z', timeout1);
    insert(ranges, 1, 'f', 'i', timeout1);
    insert(ranges, 1, 'p', 't', timeout1);
    expect(ranges.size).toBe(5);

    //  a____c    f____i    m____n    p____t    x____z
    //              g___________________q
    const timeout2 = 12;
    const overlaps = ranges.drainOverlapRanges(b('g'), b('q'));
    expect(shape(overlaps)).toEqual([
      [1, 'f', 'i', timeout1],
      [0, 'm', 'n', timeout1],
      [1, 'p', 't', timeout1],
    ]);
    expect(ranges.size).toBe(2);
    insert(ranges, 2, 'g', 'q', timeout2);
    expect(ranges.size).toBe(3);

    // at 11, [a, c) and [x, z) are stale
    const first = ranges.staleRanges(11);
    expect(shape(first).map((r) => r.slice(0, 3))).toEqual([
      [0, 'a', 'c'],
      [0, 'x', 'z'],
    ]);
    for (const r of first) expect(ranges.remove(r.startKey)).toBeDefined();
    expect(ranges.size).toBe(1);

    // at 14, [g, q) is stale
    const second = ranges.staleRanges(14);
    expect(shape(second).map((r) => r.slice(0, 3))).toEqual([[2, 'g', 'q']]);
    for (const r of second) ranges.remove(r.startKey);
    expect(ranges.size).toBe(0);
  });

  it('finds a range that starts before the query and reaches into it, and not one that ends at its start', () => {
    const ranges = new PendingDeleteRanges();
    insert(ranges, 1, 'a', 'e', 1);
    insert(ranges, 2, 'e', 'g', 1);
    insert(ranges, 3, 'k', 'm', 1);
    expect(shape(ranges.findOverlapRanges(b('c'), b('f')))).toEqual([
      [1, 'a', 'e', 1],
      [2, 'e', 'g', 1],
    ]);
    expect(shape(ranges.findOverlapRanges(b('g'), b('k')))).toEqual([]);
    expect(shape(ranges.findOverlapRanges(b('l'), b('z')))).toEqual([[3, 'k', 'm', 1]]);
    // find does not remove
    expect(ranges.size).toBe(3);
  });

  it('refuses to register an overlapping range', () => {
    const ranges = new PendingDeleteRanges();
    insert(ranges, 1, 'b', 'd', 1);
    let caught: unknown;
    try {
      insert(ranges, 2, 'c', 'e', 2);
    } catch (err) {
      caught = err;
    }
    expect(isRegionStoreError(caught, 'Internal')).toBe(true);
    expect((caught as Error).message).toContain('overlaps');
    expect(ranges.size).toBe(1);
    // touching ranges do not overlap
    insert(ranges, 3, 'd', 'e', 2);
    insert(ranges, 4, 'a', 'b', 2);
    expect(ranges.size).toBe(3);
  });

  it('remove returns undefined for a key that starts no range', () => {
    const ranges = new PendingDeleteRanges();
    insert(ranges, 1, 'b', 'd', 1);
    expect(ranges.remove(b('c'))).toBeUndefined();
    expect(ranges.remove(b('b'))?.regionId.regionNumber).toBe(1);
    expect(ranges.size).toBe(0);
  });

  it('keeps start-key order whatever the insertion order', () => {
    const ranges = new PendingDeleteRanges();
    for (const [s, e] of [
      ['q', 'r'],
      ['c', 'd'],
      ['x', 'y'],
      ['a', 'b'],
      ['m', 'n'],
    ] as const)
      insert(ranges, 1, s, e, 1);
    expect(ranges.staleRanges(2).map((r) => r.startKey.toString())).toEqual(['a', 'c', 'm', 'q', 'x']);
    expect(ranges.staleRanges(1)).toEqual([]);
  });
});

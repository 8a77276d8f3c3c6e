import { InternalError, compareKeys, escapeKey, type RegionId } from '@regionstore/core';

/** A range of a destroyed region whose deletion waits until no snapshot can still read it. */
export interface PendingDeleteRange {
  regionId: RegionId;
  startKey: Buffer;
  endKey: Buffer;
  /**
   * The engine's latest sequence when the range was registered. Once the oldest live snapshot is
   * newer, nobody reads the range any more and its files may be dropped.
   */
  staleSequence: number;
}

/**
 * Ranges waiting to be deleted, keyed by start key; they never overlap. Keys are concrete bounds
 * (the runner passes data-space keys), so an end key is always greater than its start key.
 */
export class PendingDeleteRanges {
  private readonly ranges: PendingDeleteRange[] = [];

  get size(): number {
    return this.ranges.length;
  }

  /** Index of the first range whose start key is >= `key`. */
  private lowerBound(key: Buffer): number {
    let lo = 0;
    let hi = this.ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(this.ranges[mid]!.startKey, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Positions of the ranges overlapping `[start, end)`, in start-key order. */
  private overlapping(start: Buffer, end: Buffer): number[] {
    const out: number[] = [];
    const first = this.lowerBound(start);
    // The range starting just before `start` overlaps if it reaches past it.
    const before = this.ranges[first - 1];
    if (before && compareKeys(before.endKey, start) > 0) out.push(first - 1);
    for (let i = first; i < this.ranges.length && compareKeys(this.ranges[i]!.startKey, end) < 0; i++) {
      out.push(i);
    }
    return out;
  }

  findOverlapRanges(startKey: Buffer, endKey: Buffer): PendingDeleteRange[] {
    return this.overlapping(startKey, endKey).map((i) => ({ ...this.ranges[i]! }));
  }

  /** Removes and returns the ranges overlapping `[startKey, endKey)`. */
  drainOverlapRanges(startKey: Buffer, endKey: Buffer): PendingDeleteRange[] {
    const found = this.overlapping(startKey, endKey);
    if (found.length === 0) return [];
    return this.ranges.splice(found[0]!, found.length);
  }

  /** Registers a range; callers drain overlapping ranges first, so an overlap is a bug. */
  insert(regionId: RegionId, startKey: Buffer, endKey: Buffer, staleSequence: number): void {
    if (this.overlapping(startKey, endKey).length > 0) {
      throw new InternalError(
        `region ${regionId.toString()}: pending delete range [${escapeKey(startKey)}, ${escapeKey(endKey)}) overlaps a registered one`,
        { regionId: regionId.toString(), startKey: escapeKey(startKey), endKey: escapeKey(endKey) },
      );
    }
    this.ranges.splice(this.lowerBound(startKey), 0, { regionId, startKey, endKey, staleSequence });
  }

  /** Ranges registered before `oldestSequence`, in start-key order. */
  staleRanges(oldestSequence: number): PendingDeleteRange[] {
    return this.ranges.filter((r) => r.staleSequence < oldestSequence).map((r) => ({ ...r }));
  }

  /** Removes the range starting at `startKey`; returns it, or undefined if there is none. */
  remove(startKey: Buffer): PendingDeleteRange | undefined {
    const at = this.lowerBound(startKey);
    const found = this.ranges[at];
    if (!found || !found.startKey.equals(startKey)) return undefined;
    this.ranges.splice(at, 1);
    return found;
  }
}

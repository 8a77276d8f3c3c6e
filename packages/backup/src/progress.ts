import { compareKeys, keyRange, type KeyRange } from '@regionstore/core';
import type { RegionInfo, RegionInfoProvider } from './region-info';

/** A piece of the request range inside one region this node leads. */
export interface BackupRange {
  /** Clamped to the region and the request; empty = unbounded. */
  range: KeyRange;
  region: RegionInfo;
}

/** The larger start key; empty means "from the first key". */
function maxStart(a: Buffer, b: Buffer): Buffer {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  return compareKeys(a, b) >= 0 ? a : b;
}

/** The smaller end key; empty means "to the last key". */
function minEnd(a: Buffer, b: Buffer): Buffer {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  return compareKeys(a, b) <= 0 ? a : b;
}

/**
 * Walks the node's regions from `nextStart` and hands out the parts of the request range this node
 * leads, at most `limit` per call. Workers share one Progress and call `forward` under its lock.
 */
export class Progress {
  private nextStart: Buffer;
  private done = false;

  constructor(
    private readonly regionInfo: RegionInfoProvider,
    range: KeyRange,
  ) {
    this.nextStart = range.start;
    this.endKey = range.end;
  }

  private readonly endKey: Buffer;

  get finished(): boolean {
    return this.done;
  }

  async forward(limit: number): Promise<BackupRange[]> {
    if (this.done) return [];
    const out: BackupRange[] = [];
    for (const region of await this.regionInfo.seekRegions(this.nextStart)) {
      // [start, end): a region starting at or after the end key is past the request.
      if (this.endKey.length > 0 && compareKeys(this.endKey, region.range.start) <= 0) break;
      if (region.role !== 'Leader') continue;
      out.push({
        range: keyRange(maxStart(this.nextStart, region.range.start), minEnd(this.endKey, region.range.end)),
        region,
      });
      if (out.length >= limit) break;
    }
    const last = out.at(-1);
    if (!last) {
      this.done = true;
      return out;
    }
    // The last region, or the end of the request: nothing left after this batch.
    if (last.region.range.end.length === 0 || last.range.end.equals(this.endKey)) this.done = true;
    this.nextStart = last.range.end;
    return out;
  }
}

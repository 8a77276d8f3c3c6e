import { compareKeys, type KeyRange, type RegionId } from '@regionstore/core';

export interface RegionInfo {
  regionId: RegionId;
  range: KeyRange;
  epochVersion: number;
  role: 'Leader' | 'Follower';
}

/** The node's region map as backup sees it (TiKV's RegionInfoProvider). */
export interface RegionInfoProvider {
  /** Regions whose range ends after `from` (or is unbounded), in start-key order. */
  seekRegions(from: Buffer): Iterable<RegionInfo> | Promise<Iterable<RegionInfo>>;
  /** Throws NotLeader if this node no longer leads the region (checked before each range). */
  ensureLeader(region: RegionInfo): void | Promise<void>;
}

/** A fixed, sorted list of regions; apps rebuild it from the worker group, tests fill it by hand. */
export class StaticRegionInfoProvider implements RegionInfoProvider {
  private regions: RegionInfo[] = [];

  setRegions(regions: RegionInfo[]): void {
    this.regions = [...regions].sort((a, b) => compareKeys(a.range.start, b.range.start));
  }

  seekRegions(from: Buffer): RegionInfo[] {
    return this.regions.filter((r) => r.range.end.length === 0 || compareKeys(r.range.end, from) > 0);
  }

  ensureLeader(_region: RegionInfo): void {}
}

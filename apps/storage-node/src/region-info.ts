import { NotLeaderError } from '@regionstore/core';
import type { RegionInfo, RegionInfoProvider } from '@regionstore/backup';
import type { WorkerGroup } from '@regionstore/worker-group';
import { compareKeys } from '@regionstore/core';

/** Backup's view of the node's regions, read live from the worker group. */
export class WorkerGroupRegionInfo implements RegionInfoProvider {
  constructor(private readonly group: () => WorkerGroup) {}

  seekRegions(from: Buffer): RegionInfo[] {
    return this.group()
      .regions()
      .filter((r) => r.range.end.length === 0 || compareKeys(r.range.end, from) > 0)
      .sort((a, b) => compareKeys(a.range.start, b.range.start))
      .map((r) => ({
        regionId: r.regionId,
        range: r.range,
        epochVersion: r.epoch.version,
        role: r.role === 'Leader' ? 'Leader' : 'Follower',
      }));
  }

  ensureLeader(region: RegionInfo): void {
    const current = this.group().getRegion(region.regionId);
    if (!current || current.role !== 'Leader') {
      throw new NotLeaderError(`this node no longer leads region ${region.regionId.toString()}`, {
        regionId: region.regionId.toString(),
      });
    }
  }
}

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

  /**
   * Also refused once the region's range changed since it was listed (a split or merge moved its
   * epoch version on): the keys it gave away may be gone from this node by now, and the metasrv sends
   * the part again to wherever they are.
   */
  ensureLeader(region: RegionInfo): void {
    const current = this.group().getRegion(region.regionId);
    const id = region.regionId.toString();
    if (!current || current.role !== 'Leader') {
      throw new NotLeaderError(`this node no longer leads region ${id}`, { regionId: id });
    }
    if (current.epoch.version !== region.epochVersion) {
      throw new NotLeaderError(
        `region ${id} changed its range since the backup listed it (epoch version ${region.epochVersion} → ${current.epoch.version})`,
        { regionId: id },
      );
    }
  }
}

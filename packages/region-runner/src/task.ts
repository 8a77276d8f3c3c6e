import { keyRange, type KeyRange, type RegionId } from '@regionstore/core';
import type { EngineSnapshot, RegionApplyState } from '@regionstore/engine';
import { ApplyHandle } from './apply-status';

/** Generate a region snapshot from a consistent engine view and write it to snapshot storage. */
export interface GenTask {
  type: 'Gen';
  regionId: RegionId;
  /** Term of the last applied WAL entry (the leader epoch that wrote it). */
  term: number;
  /** Apply state at the snapshot; its `appliedIndex` names the snapshot. */
  applyState: RegionApplyState;
  /** The view to read; the runner releases it when the generation ends. */
  snapshot: EngineSnapshot;
  /** Checked before the generation starts and between blocks. */
  signal?: AbortSignal;
  /** Generated to move the region to another node rather than to catch a follower up. */
  forBalance?: boolean;
  /** Added to the name (see snapshotName): a caller whose generations must never share one. */
  tag?: string;
}

/**
 * Replace the region's data with the snapshot named by its apply state's truncated term and index, or
 * with `source`'s: a file another region wrote (a split child's copy of its parent's snapshot), of
 * which only the keys in the region's range are loaded.
 */
export interface ApplyTask {
  type: 'Apply';
  regionId: RegionId;
  handle: ApplyHandle;
  source?: SnapshotSource;
}

/**
 * A snapshot object, the region that wrote it (its file says so, and is checked), and the sha256 its
 * manifest recorded when there is one: a file with other bytes under that name is refused.
 */
export interface SnapshotSource {
  name: string;
  region: RegionId;
  sha256?: string;
}

/** Delete the data of `[range.start, range.end)` once no reader can see it any more. */
export interface DestroyTask {
  type: 'Destroy';
  regionId: RegionId;
  range: KeyRange;
}

export type RegionTask = GenTask | ApplyTask | DestroyTask;

export const RegionTask = {
  gen(fields: Omit<GenTask, 'type'>): GenTask {
    return { type: 'Gen', ...fields };
  },
  apply(regionId: RegionId, handle: ApplyHandle = new ApplyHandle(), source?: SnapshotSource): ApplyTask {
    return { type: 'Apply', regionId, handle, ...(source ? { source } : {}) };
  },
  destroy(regionId: RegionId, startKey: Buffer, endKey: Buffer): DestroyTask {
    return { type: 'Destroy', regionId, range: keyRange(startKey, endKey) };
  },
  describe(task: RegionTask): string {
    const region = task.regionId.toString();
    switch (task.type) {
      case 'Gen':
        return `snapshot gen for region ${region}`;
      case 'Apply':
        return `snapshot apply for region ${region}`;
      case 'Destroy':
        return `destroy of region ${region}`;
    }
  },
};

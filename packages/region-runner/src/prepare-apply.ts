import type { RegionId } from '@regionstore/core';
import {
  WriteBatch,
  writeApplyState,
  writeRegionLocalState,
  writeSnapshotRaftState,
  type KvEngine,
  type RegionEpoch,
  type RegionLocalState,
} from '@regionstore/engine';
import type { KeyRange } from '@regionstore/core';
import type { SnapshotKey } from './region-snapshot';

/**
 * What a receiver writes before scheduling an Apply (TiKV's raft side does this on snapshot receipt):
 * the region in state `Applying` with its new range and epoch, and an apply state whose truncated term
 * and index name the snapshot, all in one batch. Until the apply finishes, readers see `Applying`.
 */
export async function prepareSnapshotApply(
  engine: KvEngine,
  region: { regionId: RegionId; range: KeyRange; epoch: RegionEpoch },
  snapshot: SnapshotKey,
): Promise<RegionLocalState> {
  const state: RegionLocalState = { ...region, state: 'Applying' };
  const applyState = {
    appliedIndex: snapshot.index,
    truncatedIndex: snapshot.index,
    truncatedTerm: snapshot.term,
  };
  const batch = new WriteBatch();
  writeRegionLocalState(batch, state);
  writeApplyState(batch, region.regionId, applyState);
  writeSnapshotRaftState(batch, region.regionId, applyState);
  await engine.write(batch);
  return state;
}

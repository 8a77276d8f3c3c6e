import { InternalError, NotFoundError, type KeyRange, type RegionId } from '@regionstore/core';
import {
  DATA_CFS,
  WriteBatch,
  readApplyState,
  readRegionLocalState,
  writeApplyState,
  writeRegionLocalState,
  type RegionApplyState,
  type RegionEpoch,
} from '@regionstore/engine';
import { ApplyStatus, RegionTask, prepareSnapshotApply, regionDataBounds } from '@regionstore/region-runner';
import type { WorkerContext } from './context';
import { latestManifest } from './manifest';
import { replayWal } from './replay';

export interface RecoveredRegion {
  lastEntryId: number;
  flushedEntryId: number;
}

/** Removes whatever the engine holds in the region's range (leftovers of an earlier placement). */
export async function clearRegionData(ctx: WorkerContext, range: KeyRange): Promise<void> {
  for (const cf of DATA_CFS) await ctx.engine.deleteRanges(cf, 'DeleteByRange', [regionDataBounds(range)]);
}

/** The apply state to continue from: local data if the WAL still reaches it, else the latest flush. */
async function startingPoint(
  ctx: WorkerContext,
  regionId: RegionId,
  range: KeyRange,
  epoch: RegionEpoch,
): Promise<RegionApplyState> {
  const local = await readRegionLocalState(ctx.engine, regionId);
  const applied = await readApplyState(ctx.engine, regionId);
  const trimmed = await ctx.wal.trimmedEntryId(regionId);
  if (local?.state === 'Normal' && applied && applied.appliedIndex >= trimmed) return applied;

  const manifest = await latestManifest(ctx.storage, regionId);
  if (manifest?.snapshot) {
    const key = { regionId, term: manifest.term, index: manifest.walEntryId };
    await prepareSnapshotApply(ctx.engine, { regionId, range, epoch }, key);
    const task = RegionTask.apply(regionId);
    const status = await ctx.runner.schedule(task);
    if (status !== ApplyStatus.Finished) {
      throw new InternalError(
        `loading snapshot ${manifest.snapshot} of region ${regionId.toString()} ended ${status}: ${task.handle.error?.message ?? ''}`,
        { regionId: regionId.toString(), snapshot: manifest.snapshot, status },
        { cause: task.handle.error },
      );
    }
    return {
      appliedIndex: manifest.walEntryId,
      truncatedIndex: manifest.walEntryId,
      truncatedTerm: manifest.term,
    };
  }
  const from = manifest?.walEntryId ?? 0;
  if (trimmed > from) {
    throw new NotFoundError(
      `region ${regionId.toString()}: WAL is trimmed up to ${trimmed} but no flushed snapshot covers it`,
      { regionId: regionId.toString(), trimmedUpTo: trimmed },
    );
  }
  // Empty as of `from` (a new region, or a truncate's manifest).
  await clearRegionData(ctx, range);
  return { appliedIndex: from, truncatedIndex: from, truncatedTerm: manifest?.term ?? 0 };
}

/**
 * Brings a region's data on this node up to its WAL: from the local engine when it is recent enough,
 * otherwise from the latest flushed snapshot in the object store, then the WAL entries after it
 * (up to `toId` for a follower catching up to a given point).
 */
export async function recoverRegion(
  ctx: WorkerContext,
  regionId: RegionId,
  range: KeyRange,
  epoch: RegionEpoch,
  toId?: number,
): Promise<RecoveredRegion> {
  const applied = await startingPoint(ctx, regionId, range, epoch);
  const batch = new WriteBatch();
  writeRegionLocalState(batch, { regionId, state: 'Normal', range, epoch });
  writeApplyState(batch, regionId, applied);
  await ctx.engine.write(batch);
  const lastEntryId = await replayWal({
    engine: ctx.engine,
    wal: ctx.wal,
    regionId,
    applied,
    timestamps: ctx.concurrency.timestamps,
    ...(toId === undefined ? {} : { toId }),
  });
  return { lastEntryId, flushedEntryId: applied.truncatedIndex };
}

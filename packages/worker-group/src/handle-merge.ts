import {
  EpochNotMatchError,
  InvalidArgumentError,
  NotLeaderError,
  composeTimestamp,
  keyRange,
  type RegionId,
} from '@regionstore/core';
import {
  CF_RAFT,
  WriteBatch,
  applyStateKey,
  readApplyState,
  writeApplyState,
  writeRegionLocalState,
} from '@regionstore/engine';
import type { WorkerContext } from './context';
import { RecentWrites } from './recent-writes';
import type { WorkerRegion } from './region';
import type { RegionOwner } from './region-owner';
import { catchUpWithWal, changeRole } from './replay';
import type { DdlRequest, DdlResult } from './requests';

export type MergeRequest = Extract<DdlRequest, { type: 'merge' }>;

/** Whether `target` already holds what merging `request` into it makes of it. */
export function mergeDone(target: WorkerRegion, request: MergeRequest): boolean {
  const { start, end } = request.sourceRange;
  return (
    target.epoch.version >= request.epoch.version &&
    (target.range.end.equals(end) || target.range.start.equals(start))
  );
}

/**
 * The source of a merge stops taking writes (PD's PrepareMerge): between its write batches it becomes a
 * downgrading leader, with every acknowledged write in the engine (an uncertain append applied first).
 * Its data stays where it is; the target takes it over.
 */
export async function prepareMerge(ctx: WorkerContext, region: WorkerRegion): Promise<DdlResult> {
  if (region.role === 'Follower')
    throw new NotLeaderError(`region ${region.regionId.toString()} does not lead on ${ctx.nodeId}`);
  if (region.walUncertain) await catchUpWithWal(ctx, region);
  if (region.role === 'Leader') changeRole(ctx, region, 'DowngradingLeader');
  // Not where appends wait for replicas (see handleSplit): the target then knows none of them.
  if (!ctx.wal.confirmsOnReplicas) ctx.inheritedWrites.set(region.regionId.value, region.recentWrites);
  return { lastEntryId: region.lastEntryId };
}

/**
 * The target of a merge takes over its adjacent source's range (PD's CommitMerge, with the data in
 * place): in one engine batch its local state covers both ranges at the new epoch and the source's
 * becomes a tombstone whose range is not queued for deletion (its data is the target's now). Runs on
 * the target's worker; the source must have been prepared (it takes no writes). A repeated request
 * once done answers as before.
 */
export async function handleMerge(
  ctx: WorkerContext,
  owner: RegionOwner,
  regionId: RegionId,
  request: MergeRequest,
): Promise<DdlResult> {
  const target = owner.requireRegion(regionId);
  const id = regionId.toString();
  if (mergeDone(target, request)) return { lastEntryId: target.lastEntryId };
  if (target.epoch.version >= request.epoch.version) {
    throw new EpochNotMatchError(
      `region ${id} is at epoch version ${target.epoch.version}; this merge is stale`,
      {
        regionId: id,
        epoch: target.epoch,
        requested: request.epoch,
      },
    );
  }
  if (!target.isWritable)
    throw new NotLeaderError(`region ${id} does not lead on ${ctx.nodeId}`, { regionId: id });
  const source = request.sourceRange;
  const merged = target.range.end.equals(source.start)
    ? keyRange(target.range.start, source.end)
    : source.end.equals(target.range.start)
      ? keyRange(source.start, target.range.end)
      : undefined;
  if (!merged)
    throw new InvalidArgumentError(`region ${request.source.toString()} is not adjacent to region ${id}`, {
      regionId: id,
      source: request.source.toString(),
    });
  const batch = new WriteBatch();
  const maxTs =
    request.sourceMaxTs !== undefined && request.sourceMaxTs > target.maxTs
      ? request.sourceMaxTs
      : target.maxTs;
  const applied = await readApplyState(ctx.engine, regionId);
  if (applied) writeApplyState(batch, regionId, { ...applied, maxTs });
  writeRegionLocalState(batch, {
    regionId,
    state: 'Normal',
    range: merged,
    epoch: request.epoch,
    ...(target.walIncarnation === undefined ? {} : { walIncarnation: target.walIncarnation }),
  });
  writeRegionLocalState(batch, {
    regionId: request.source,
    state: 'Tombstone',
    range: source,
    // One placement past its own: an open at the route it had (a heartbeat repair that read the routes
    // just before the merge wrote them) is refused, never run over the target's data. A node that
    // restarted before the routes changed opens the merged target from its local state instead.
    epoch: { version: request.epoch.version, confVer: request.sourceEpoch.confVer + 1 },
  });
  batch.delete(CF_RAFT, applyStateKey(request.source));
  await ctx.engine.write(batch);
  target.range = merged;
  target.epoch = request.epoch;
  target.maxTs = maxTs;
  // A write re-sent to the source may now belong here; what the source committed unseen is unknown.
  target.recentWrites.absorb(
    ctx.inheritedWrites.get(request.source.value) ??
      new RecentWrites(request.sourceMaxTs ?? composeTimestamp(Math.floor(ctx.time.now())), 0, undefined),
  );
  ctx.inheritedWrites.delete(request.source.value);
  ctx.logger.info(
    { regionId: id, source: request.source.toString(), atEntry: target.lastEntryId },
    'regions merged',
  );
  return { lastEntryId: target.lastEntryId };
}

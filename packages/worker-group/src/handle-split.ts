import {
  EpochNotMatchError,
  InvalidArgumentError,
  NotLeaderError,
  compareKeys,
  keyRange,
  type RegionId,
} from '@regionstore/core';
import {
  WriteBatch,
  writeApplyState,
  writeRegionLocalState,
  type RegionEpoch,
  fenceEpochOf,
} from '@regionstore/engine';
import type { WorkerContext } from './context';
import { checkAskedPlacement } from './region';
import type { RegionOwner } from './region-owner';
import { catchUpWithWal } from './replay';
import type { DdlRequest, DdlResult } from './requests';

export type SplitRequest = Extract<DdlRequest, { type: 'split' }>;

/**
 * How long the parent's own flushes wait for the split's flush (see `WorkerRegion.flushesHeldUntilMs`);
 * splitRegion ends the wait sooner, this bounds it if it never does.
 */
const SPLIT_FLUSH_HOLD_MS = 30_000;

/** Whether a region at `epoch` ending at `end` is what splitting at `request` made of it. */
export function splitDone(epoch: RegionEpoch, end: Buffer, request: SplitRequest): boolean {
  return epoch.version >= request.epoch.version && end.equals(request.splitKey);
}

/**
 * Splits a leading region at `splitKey` on this node (TiKV's split, with the WAL in place of Raft):
 * the data stays where it is. Runs on the parent's worker between its write batches, so the parent
 * takes no write meanwhile; from here on it holds `[start, splitKey)` at the new epoch and refuses
 * keys past it. The child `[splitKey, end)` gets a WAL of its own (fenced to this node) and its local
 * state at entry 0 in the same engine batch as the parent's new range, so the engine never holds
 * one without the other. A flush of the parent running now is cancelled, and none starts on its own
 * until the split's (see SPLIT_FLUSH_HOLD_MS). Opening the child and giving both a manifest of their
 * own range before any route names them are WorkerGroup.splitRegion's next steps. A repeated request
 * once done answers as before.
 */
export async function handleSplit(
  ctx: WorkerContext,
  owner: RegionOwner,
  regionId: RegionId,
  request: SplitRequest,
): Promise<DdlResult> {
  const region = owner.requireRegion(regionId);
  const id = regionId.toString();
  checkAskedPlacement(regionId, region.epoch.confVer, request.epoch, 'split', false);
  if (splitDone(region.epoch, region.range.end, request)) {
    region.flushesHeldUntilMs = ctx.time.now() + SPLIT_FLUSH_HOLD_MS;
    region.splitChildPending = request.child;
    return { lastEntryId: region.lastEntryId };
  }
  if (region.epoch.version >= request.epoch.version) {
    throw new EpochNotMatchError(
      `region ${id} is at epoch version ${region.epoch.version}; a split to ${request.epoch.version} is stale`,
      { regionId: id, epoch: region.epoch, requested: request.epoch },
    );
  }
  checkAskedPlacement(regionId, region.epoch.confVer, request.epoch, 'split', true);
  if (!region.isWritable)
    throw new NotLeaderError(`region ${id} does not lead on ${ctx.nodeId}`, { regionId: id });
  const { splitKey, child, childEpoch } = request;
  const { start, end } = region.range;
  if (compareKeys(splitKey, start) <= 0 || (end.length > 0 && compareKeys(splitKey, end) >= 0)) {
    throw new InvalidArgumentError(
      `split key is not inside region ${id}: it must lie after its start and before its end`,
      {
        regionId: id,
        splitKey: splitKey.toString('base64'),
      },
    );
  }
  // Entries an uncertain append may have left in the WAL belong to the parent's whole range.
  if (region.walUncertain) await catchUpWithWal(ctx, region);
  await ctx.wal.setFence(child, { nodeId: ctx.nodeId, epoch: fenceEpochOf(childEpoch) });
  const childWal = await ctx.wal.position(child);
  if (childWal.lastEntryId > 0) {
    throw new InvalidArgumentError(
      `region ${child.toString()} already has a WAL; pick another id for the child`,
      {
        regionId: child.toString(),
      },
    );
  }
  const parentRange = keyRange(start, splitKey);
  const childRange = keyRange(splitKey, end);
  const batch = new WriteBatch();
  writeRegionLocalState(batch, {
    regionId: child,
    state: 'Normal',
    range: childRange,
    epoch: childEpoch,
    ...(childWal.incarnation === undefined ? {} : { walIncarnation: childWal.incarnation }),
  });
  writeApplyState(batch, child, {
    appliedIndex: 0,
    truncatedIndex: 0,
    truncatedTerm: fenceEpochOf(childEpoch),
    maxTs: region.maxTs,
  });
  writeRegionLocalState(batch, {
    regionId,
    state: 'Normal',
    range: parentRange,
    epoch: request.epoch,
    ...(region.walIncarnation === undefined ? {} : { walIncarnation: region.walIncarnation }),
  });
  await ctx.engine.write(batch);
  // A write re-sent after the split may now belong to the child. Not where appends wait for replicas:
  // the child could not tell which of the parent's entries an acknowledged append confirmed.
  if (!ctx.wal.confirmsOnReplicas)
    ctx.inheritedWrites.set(child.value, region.recentWrites.continuedAt(0, childWal.incarnation));
  region.range = parentRange;
  region.epoch = request.epoch;
  region.flushesHeldUntilMs = ctx.time.now() + SPLIT_FLUSH_HOLD_MS;
  region.splitChildPending = child;
  // A flush running now captured the range from before: its manifest is not the one the routes wait
  // for, and a full one (a snapshot of the whole region) would hold them up for as long as it writes.
  region.flushAbort?.abort();
  ctx.logger.info(
    {
      regionId: id,
      child: child.toString(),
      splitKey: splitKey.toString('base64'),
      atEntry: region.lastEntryId,
    },
    'region split',
  );
  return { lastEntryId: region.lastEntryId };
}

import { EpochNotMatchError, InvalidArgumentError, type RegionId } from '@regionstore/core';
import { fenceEpochOf } from '@regionstore/engine';
import { commitFirstManifest, emptyManifest } from '@regionstore/region-files';
import type { WorkerContext } from './context';
import { recentWritesAfter } from './recent-writes';
import { checkNotTombstoned, clearRegionData, recoverRegion, type RecoveredRegion } from './recover';
import { WorkerRegion } from './region';
import type { RegionOwner } from './region-owner';
import { addUnflushed, changeRole } from './replay';
import type { DdlRequest, DdlResult } from './requests';

type OpenRequest = Extract<DdlRequest, { type: 'create' | 'open' }>;

/** A new region: fenced to this node, on an empty range, leading. */
export async function handleCreate(
  ctx: WorkerContext,
  owner: RegionOwner,
  regionId: RegionId,
  request: Extract<DdlRequest, { type: 'create' }>,
): Promise<DdlResult> {
  if (owner.regions.has(regionId)) return { lastEntryId: owner.requireRegion(regionId).lastEntryId };
  if ((await ctx.wal.lastEntryId(regionId)) > 0) {
    throw new InvalidArgumentError(`region ${regionId.toString()} already has a WAL; open it instead`);
  }
  await ctx.wal.setFence(regionId, { nodeId: ctx.nodeId, epoch: fenceEpochOf(request.epoch) });
  // From its first moment the object store knows the region, its range and epoch (a cluster recovery
  // rebuilds its route from this if Redis loses everything before the first flush).
  await commitFirstManifest(ctx, emptyManifest(ctx, { regionId, ...request }, 0, undefined), {
    nodeId: ctx.nodeId,
    epoch: fenceEpochOf(request.epoch),
  });
  await clearRegionData(ctx, request.range);
  const recovered = await recoverRegion(ctx, regionId, request.range, request.epoch);
  owner.addRegion(newRegion(ctx, regionId, request, 'Leader', recovered));
  return { lastEntryId: recovered.lastEntryId };
}

/**
 * An existing region, from its last flushed snapshot and the WAL after it; a leader takes the fence
 * first. Already open here and asked to lead: see the branch below (same region → takes the fence at
 * the new placement; another range or version at a newer placement → opened fresh as asked; at the
 * same or an older one, a follower refuses with EpochNotMatch, a leader answers as before).
 */
export async function handleOpen(
  ctx: WorkerContext,
  owner: RegionOwner,
  regionId: RegionId,
  request: Extract<DdlRequest, { type: 'open' }>,
): Promise<DdlResult> {
  const existing = owner.regions.get(regionId);
  if (existing) {
    // A leader asked to lead at a newer placement: its fence was moved on past it (see the metasrv's
    // split and merge verdicts), so it appends nothing until it takes the fence there again.
    const newer = fenceEpochOf(request.epoch) > fenceEpochOf(existing.epoch);
    const { start, end } = request.range;
    const sameRegion =
      existing.range.start.equals(start) &&
      existing.range.end.equals(end) &&
      existing.epoch.version === request.epoch.version;
    if (request.role !== 'Leader') {
      if (existing.role !== 'Follower' || sameRegion) return { lastEntryId: existing.lastEntryId };
      // A follower's copy from before a split or merge (its node was away while the procedure closed
      // the followers): it still holds the old range and tails a WAL the moved keys no longer go to, so
      // it must not stay a follower of the route's region, nor answer follower reads for those keys.
      if (request.epoch.version <= existing.epoch.version) {
        throw new EpochNotMatchError(
          `region ${regionId.toString()} is open here at epoch version ${existing.epoch.version}, at another range than an open at version ${request.epoch.version} asks for: it is stale`,
          { regionId: regionId.toString(), epoch: existing.epoch, requested: request.epoch },
        );
      }
      ctx.logger.warn(
        { regionId: regionId.toString(), range: existing.range, epoch: existing.epoch, route: request.epoch },
        'reopening a follower copy from before a split or merge',
      );
      owner.removeRegion(existing);
    } else {
      if (existing.role === 'Leader' && !newer) return { lastEntryId: existing.lastEntryId };
      if (sameRegion) {
        await becomeLeader(ctx, existing, request.epoch);
        return { lastEntryId: existing.lastEntryId };
      }
      // Another range or version than the route's at an older placement: a stale open, which must not
      // cost this copy anything.
      if (!newer) {
        throw new EpochNotMatchError(
          `region ${regionId.toString()} is open here at placement ${existing.epoch.confVer}, at another range or version than an open at ${request.epoch.confVer} asks for: it is stale`,
          { regionId: regionId.toString(), epoch: existing.epoch, requested: request.epoch },
        );
      }
      // At a newer one: a split or merge made here that the routes never took (its procedure was
      // abandoned while this node seemed dead). This copy is not the route's region: closed, its data
      // left in place, and opened again below as the route has it, from the object store and the WAL,
      // its load confined to the route's range.
      ctx.logger.warn(
        { regionId: regionId.toString(), range: existing.range, epoch: existing.epoch, route: request.epoch },
        'reopening a region whose copy here the routes never took',
      );
      owner.removeRegion(existing);
    }
  }
  owner.openingRegions.set(regionId.value, request.range);
  try {
    await checkNotTombstoned(ctx, regionId, request.epoch);
    if (request.role === 'Leader') {
      await ctx.wal.setFence(regionId, { nodeId: ctx.nodeId, epoch: fenceEpochOf(request.epoch) });
    }
    const recovered = await recoverRegion(ctx, regionId, request.range, request.epoch);
    if (request.role === 'Leader') ctx.readTimestamps.coverEarlierLeaders();
    owner.addRegion(newRegion(ctx, regionId, request, request.role, recovered));
    return { lastEntryId: recovered.lastEntryId };
  } finally {
    owner.openingRegions.delete(regionId.value);
  }
}

/** A follower replays the WAL up to `entryId` (or its end); `writable` then makes it the leader. */
export async function handleCatchup(
  ctx: WorkerContext,
  owner: RegionOwner,
  regionId: RegionId,
  request: Extract<DdlRequest, { type: 'catchup' }>,
): Promise<DdlResult> {
  const region = owner.requireRegion(regionId);
  if (region.role === 'Leader') {
    // An upgrade asked again (its first answer timed out, and it went on and took): the same answer.
    const sameEpoch = request.epoch && fenceEpochOf(request.epoch) === fenceEpochOf(region.epoch);
    if (request.writable && sameEpoch) return { lastEntryId: region.lastEntryId };
    throw new InvalidArgumentError(`region ${regionId.toString()} leads here; catchup is for followers`);
  }
  // A catch-up may load the latest flush over the copy: follower reads meanwhile are refused.
  const recovered = await region.reloading(() =>
    recoverRegion(ctx, regionId, region.range, request.epoch ?? region.epoch, request.entryId),
  );
  takeRecovered(ctx, region, recovered);
  if (request.writable) await becomeLeader(ctx, region, request.epoch ?? region.epoch);
  return { lastEntryId: region.lastEntryId };
}

function newRegion(
  ctx: WorkerContext,
  regionId: RegionId,
  request: OpenRequest,
  role: 'Leader' | 'Follower',
  recovered: RecoveredRegion,
): WorkerRegion {
  const region = new WorkerRegion(
    regionId,
    request.range,
    request.epoch,
    role,
    request.options ?? {},
    recovered.lastEntryId,
    recovered.flushedEntryId,
    ctx.time.now(),
  );
  region.snapshotBytes = recovered.snapshotBytes;
  region.maxTs = recovered.maxTs;
  region.walIncarnation = recovered.walIncarnation;
  region.recentWrites = recentWritesAfter(ctx.inheritedWrites.get(regionId.value), recovered, ctx.time.now());
  ctx.inheritedWrites.delete(regionId.value);
  addUnflushed(ctx, region, recovered.replayedBytes);
  return region;
}

/** Moves an open region to where a recovery brought its data. */
function takeRecovered(ctx: WorkerContext, region: WorkerRegion, recovered: RecoveredRegion): void {
  region.recentWrites = recentWritesAfter(region.recentWrites, recovered, ctx.time.now());
  region.lastEntryId = recovered.lastEntryId;
  region.maxTs = recovered.maxTs;
  addUnflushed(ctx, region, recovered.replayedBytes);
}

/** Takes the WAL fence, then replays what was appended before it, then takes writes. */
async function becomeLeader(
  ctx: WorkerContext,
  region: WorkerRegion,
  epoch: WorkerRegion['epoch'],
): Promise<void> {
  await ctx.wal.setFence(region.regionId, { nodeId: ctx.nodeId, epoch: fenceEpochOf(epoch) });
  const recovered = await region.reloading(() => recoverRegion(ctx, region.regionId, region.range, epoch));
  region.epoch = epoch;
  takeRecovered(ctx, region, recovered);
  ctx.readTimestamps.coverEarlierLeaders();
  changeRole(ctx, region, 'Leader');
}

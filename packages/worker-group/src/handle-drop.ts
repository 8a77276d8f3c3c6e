import { Readable } from 'node:stream';
import { EpochNotMatchError, NotLeaderError, RegionId, failpoint } from '@regionstore/core';
import {
  CF_RAFT,
  WriteBatch,
  readRegionLocalState,
  regionStateKey,
  writeRegionLocalState,
} from '@regionstore/engine';
import { RegionTask } from '@regionstore/region-runner';
import { retireObjects } from '@regionstore/region-files';
import type { WorkerContext } from './context';
import { tombstoneRegion } from './recover';
import { newerEpoch, type WorkerRegion } from './region';
import type { RegionOwner } from './region-owner';
import type { DdlRequest, DdlResult } from './requests';

/**
 * Closes the region here; with `destroy` (it moved for good) its local state becomes a tombstone, also
 * when it is not open here (the node restarted since), so a stale open of it is refused later. A close
 * naming an older placement than the open copy's is refused (EpochNotMatch): it was meant for a
 * placement the region has left.
 */
export async function handleClose(
  ctx: WorkerContext,
  owner: RegionOwner,
  regionId: RegionId,
  request: Extract<DdlRequest, { type: 'close' }>,
): Promise<DdlResult> {
  const region = owner.regions.get(regionId);
  const replacing = request.epoch;
  // The close names the placement that replaces this copy: a copy newer than that (moved back here
  // since a repair or a procedure read its route) is not the one it meant.
  if (region && replacing && newerEpoch(region.epoch, replacing)) {
    throw new EpochNotMatchError(
      `region ${regionId.toString()} is open here at epoch ${region.epoch.version}/${region.epoch.confVer}, newer than the close's ${replacing.version}/${replacing.confVer}: a stale close is refused`,
      { regionId: regionId.toString(), epoch: region.epoch, requested: replacing },
    );
  }
  if (region) owner.removeRegion(region);
  if (request.destroy) {
    const local = region ? undefined : await readRegionLocalState(ctx.engine, regionId);
    const left = region ?? (local?.state === 'Tombstone' ? undefined : local);
    if (left) {
      const newer = request.epoch && request.epoch.confVer > left.epoch.confVer;
      await tombstoneRegion(ctx, regionId, left.range, newer ? request.epoch! : left.epoch);
    }
  }
  return { lastEntryId: region?.lastEntryId ?? 0 };
}

/** Written before a drop changes anything, deleted after its last step. */
function dropMarker(regionId: RegionId): string {
  return `regions/${regionId.value}/.dropping`;
}

/** What a drop leaves for later: the region's objects, its local state, then its marker. */
async function purgeDropped(ctx: WorkerContext, regionId: RegionId): Promise<void> {
  // A test hook and a crash point: the region is dropped, its objects are not deleted yet.
  if (await failpoint('region_drop_before_purge')) return;
  await retireObjects(ctx.storage, regionId);
  await ctx.engine.delete(CF_RAFT, regionStateKey(regionId));
  await ctx.storage.delete(dropMarker(regionId));
}

/**
 * Drops the region for good: tombstone and WAL now; its data, snapshots and manifests later, once no
 * snapshot reads them. The WAL is retired, not just deleted: a follower's late position report, or a
 * node still acting on the region, can no longer bring any of it back. Only the leader drops (a
 * follower's copy is closed with `destroy`): the WAL is the leader's. The marker lets a node started
 * later finish a drop that a crash interrupted (`finishInterruptedDrops`).
 */
export async function dropRegion(
  ctx: WorkerContext,
  owner: RegionOwner,
  region: WorkerRegion,
): Promise<DdlResult> {
  const { regionId } = region;
  if (!region.isWritable)
    throw new NotLeaderError(
      `region ${regionId.toString()} does not lead on ${ctx.nodeId}: drop it on its leader, or close this copy with destroy`,
      { regionId: regionId.toString() },
    );
  await ctx.storage.write(dropMarker(regionId), Readable.from([Buffer.from(String(ctx.time.now()))]));
  const batch = new WriteBatch();
  writeRegionLocalState(batch, { regionId, state: 'Tombstone', range: region.range, epoch: region.epoch });
  await ctx.engine.write(batch);
  owner.removeRegion(region);
  await ctx.wal.retire(regionId);
  void ctx.runner
    .schedule(RegionTask.destroy(regionId, region.range.start, region.range.end))
    .catch((err: unknown) =>
      ctx.logger.warn({ regionId: regionId.toString(), err }, 'destroy of dropped region failed'),
    );
  void ctx.purgeScheduler
    .schedule(() => purgeDropped(ctx, regionId))
    .catch((err: unknown) =>
      ctx.logger.warn({ regionId: regionId.toString(), err }, 'purge of dropped region failed'),
    );
  return { lastEntryId: region.lastEntryId };
}

/**
 * Finishes the drops whose markers are still in the object store (a node crashed mid-drop): the WAL
 * goes again, then the purge. Every step may run twice, on any node. Returns the regions finished.
 */
export async function finishInterruptedDrops(ctx: WorkerContext): Promise<RegionId[]> {
  const dropped: RegionId[] = [];
  for await (const object of ctx.storage.list('regions/')) {
    const value = /^regions\/(\d{1,20})\/\.dropping$/.exec(object.name)?.[1];
    if (value !== undefined) dropped.push(RegionId.fromBigInt(BigInt(value)));
  }
  for (const regionId of dropped) {
    await ctx.wal.retire(regionId);
    await purgeDropped(ctx, regionId);
  }
  return dropped;
}

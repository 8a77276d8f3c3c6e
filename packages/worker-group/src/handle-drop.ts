import { Readable } from 'node:stream';
import type { RegionId } from '@regionstore/core';
import {
  CF_RAFT,
  WriteBatch,
  readRegionLocalState,
  regionStateKey,
  writeRegionLocalState,
} from '@regionstore/engine';
import { RegionTask } from '@regionstore/region-runner';
import type { WorkerContext } from './context';
import { retireObjects } from './manifest';
import { tombstoneRegion } from './recover';
import type { WorkerRegion } from './region';
import type { RegionOwner } from './region-owner';
import type { DdlRequest, DdlResult } from './requests';

/**
 * Closes the region here; with `destroy` (it moved for good) its local state becomes a tombstone, also
 * when it is not open here (the node restarted since), so a stale open of it is refused later.
 */
export async function handleClose(
  ctx: WorkerContext,
  owner: RegionOwner,
  regionId: RegionId,
  request: Extract<DdlRequest, { type: 'close' }>,
): Promise<DdlResult> {
  const region = owner.regions.get(regionId);
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

/**
 * Drops the region for good: tombstone and WAL now; its data, snapshots and manifests later, once no
 * snapshot reads them. A marker object lets a restarted node finish a drop it was in the middle of.
 */
export async function dropRegion(
  ctx: WorkerContext,
  owner: RegionOwner,
  region: WorkerRegion,
): Promise<DdlResult> {
  const { regionId } = region;
  const marker = `regions/${regionId.value}/.dropping`;
  await ctx.storage.write(marker, Readable.from([Buffer.from(String(ctx.time.now()))]));
  const batch = new WriteBatch();
  writeRegionLocalState(batch, { regionId, state: 'Tombstone', range: region.range, epoch: region.epoch });
  await ctx.engine.write(batch);
  owner.removeRegion(region);
  await ctx.wal.destroy(regionId);
  void ctx.runner
    .schedule(RegionTask.destroy(regionId, region.range.start, region.range.end))
    .catch((err: unknown) =>
      ctx.logger.warn({ region: regionId.toString(), err }, 'destroy of dropped region failed'),
    );
  void ctx.purgeScheduler
    .schedule(async () => {
      await retireObjects(ctx.storage, regionId);
      await ctx.engine.delete(CF_RAFT, regionStateKey(regionId));
      await ctx.storage.delete(marker);
    })
    .catch((err: unknown) =>
      ctx.logger.warn({ region: regionId.toString(), err }, 'purge of dropped region failed'),
    );
  return { lastEntryId: region.lastEntryId };
}

import { Readable } from 'node:stream';
import {
  EpochNotMatchError,
  NotLeaderError,
  RegionId,
  failpoint,
  isRegionStoreError,
} from '@regionstore/core';
import {
  CF_RAFT,
  WriteBatch,
  fenceEpochOf,
  readRegionLocalState,
  regionStateKey,
  writeRegionLocalState,
} from '@regionstore/engine';
import type { Fence } from '@regionstore/log-store';
import { RegionTask } from '@regionstore/region-runner';
import { retireObjects } from '@regionstore/region-files';
import { z } from 'zod';
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

const markerSchema = z.object({ fence: z.object({ nodeId: z.string(), epoch: z.number().int() }) });

/**
 * What a drop's marker says: the fence it retires the WAL under; `legacy` for a marker of a drop from
 * before markers named one (its body a timestamp); `unreadable` for anything else; undefined when the
 * marker is gone (the drop finished or was given up meanwhile).
 */
type Marker = { fence: Fence } | { legacy: true } | { unreadable: string };

async function readMarker(ctx: WorkerContext, regionId: RegionId): Promise<Marker | undefined> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of await ctx.storage.read(dropMarker(regionId))) chunks.push(chunk as Buffer);
  } catch (err) {
    if (isRegionStoreError(err, 'NotFound')) return undefined;
    throw err;
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    return { unreadable: (err as Error).message };
  }
  if (typeof body === 'number') return { legacy: true };
  const parsed = markerSchema.safeParse(body);
  return parsed.success
    ? { fence: parsed.data.fence }
    : { unreadable: parsed.error.issues[0]?.message ?? '' };
}

/** Deletes the marker if it is this drop's: a deposed leader leaves the real leader's drop alone. */
async function withdrawMarker(ctx: WorkerContext, regionId: RegionId, fence: Fence): Promise<void> {
  const marker = await readMarker(ctx, regionId);
  if (
    marker &&
    'fence' in marker &&
    marker.fence.nodeId === fence.nodeId &&
    marker.fence.epoch === fence.epoch
  )
    await ctx.storage.delete(dropMarker(regionId));
}

/**
 * Retires the WAL under the drop's fence. Refused (`NotLeader`) when the fence moved on: another node
 * leads the region now, so the drop did not happen, unless the WAL is already retired (a drop that
 * got that far before a crash, or a retry).
 */
async function retireWal(ctx: WorkerContext, regionId: RegionId, fence: Fence | undefined): Promise<boolean> {
  try {
    await ctx.wal.retire(regionId, fence);
    return true;
  } catch (err) {
    if (isRegionStoreError(err, 'NotLeader') && (await ctx.wal.position(regionId)).retired) return true;
    if (isRegionStoreError(err, 'NotLeader')) return false;
    throw err;
  }
}

/**
 * Drops the region for good: WAL and tombstone now; its data, snapshots and manifests later, once no
 * snapshot reads them. Only the leader drops (a follower's copy is closed with `destroy`), and only
 * while the WAL's fence is its own: the WAL is retired under that fence, so a leader deposed without
 * knowing it is refused (`NotLeader`) and changes nothing. Retired, not just deleted: a follower's late
 * position report, or a node still acting on the region, can no longer bring any of it back. The
 * marker (with the fence) lets any node started later finish a drop that a crash interrupted
 * (`finishInterruptedDrops`).
 */
export async function dropRegion(
  ctx: WorkerContext,
  owner: RegionOwner,
  region: WorkerRegion,
): Promise<DdlResult> {
  const { regionId } = region;
  const notLeader = () =>
    new NotLeaderError(
      `region ${regionId.toString()} does not lead on ${ctx.nodeId}: drop it on its leader, or close this copy with destroy`,
      { regionId: regionId.toString() },
    );
  if (!region.isWritable) throw notLeader();
  const fence = { nodeId: ctx.nodeId, epoch: fenceEpochOf(region.epoch) };
  const body = Buffer.from(JSON.stringify({ fence, atMs: ctx.time.now() }));
  await ctx.storage.write(dropMarker(regionId), Readable.from([body]));
  if (!(await retireWal(ctx, regionId, fence))) {
    await withdrawMarker(ctx, regionId, fence);
    throw notLeader();
  }
  const batch = new WriteBatch();
  writeRegionLocalState(batch, { regionId, state: 'Tombstone', range: region.range, epoch: region.epoch });
  await ctx.engine.write(batch);
  owner.removeRegion(region);
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
 * is retired under the marker's fence, then the purge. A drop whose fence moved on before it retired
 * the WAL never happened: its marker goes and the region lives on where it leads now. Every step may
 * run twice, on any node. Returns the regions finished.
 */
export async function finishInterruptedDrops(ctx: WorkerContext): Promise<RegionId[]> {
  const marked: RegionId[] = [];
  for await (const object of ctx.storage.list('regions/')) {
    const value = /^regions\/(\d{1,20})\/\.dropping$/.exec(object.name)?.[1];
    if (value !== undefined) marked.push(RegionId.fromBigInt(BigInt(value)));
  }
  const dropped: RegionId[] = [];
  for (const regionId of marked) {
    const marker = await readMarker(ctx, regionId);
    if (!marker) continue;
    if ('unreadable' in marker) {
      ctx.logger.warn(
        { regionId: regionId.toString(), reason: marker.unreadable },
        'a drop marker names no fence it could be finished under: the drop is given up',
      );
      await ctx.storage.delete(dropMarker(regionId));
      continue;
    }
    // A drop from before markers named a fence is finished as it was then: unfenced.
    const fence = 'fence' in marker ? marker.fence : undefined;
    if (await retireWal(ctx, regionId, fence)) {
      await purgeDropped(ctx, regionId);
      dropped.push(regionId);
    } else {
      ctx.logger.warn(
        { regionId: regionId.toString() },
        'an interrupted drop never retired the WAL and the region leads elsewhere now: it stays',
      );
      await withdrawMarker(ctx, regionId, fence!);
    }
  }
  return dropped;
}

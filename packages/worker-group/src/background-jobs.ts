import { CancelledError, InternalError, composeTimestamp, type RegionId } from '@regionstore/core';
import { CF_DEFAULT, mvccGc, readApplyState, type MvccGcResult } from '@regionstore/engine';
import { RegionTask, regionDataBounds } from '@regionstore/region-runner';
import type { WorkerContext } from './context';
import { listManifests, newManifest, readManifest, writeManifest, type FlushManifest } from './manifest';
import { fenceEpochOf, type WorkerRegion } from './region';

/**
 * Flush: a region snapshot (region-runner Gen) in the object store, then the manifest naming the WAL
 * entry it covers, then the WAL trimmed up to that entry, in that order, so a crash at any point
 * leaves a state an open can recover from.
 */
export async function flushRegion(ctx: WorkerContext, region: WorkerRegion): Promise<FlushManifest> {
  const { regionId } = region;
  const snapshot = ctx.engine.snapshot();
  let applyState;
  try {
    applyState = await readApplyState(snapshot, regionId);
  } catch (err) {
    await snapshot.release();
    throw err;
  }
  if (!applyState) {
    await snapshot.release();
    throw new InternalError(`region ${regionId.toString()} has no apply state to flush`);
  }
  const term = fenceEpochOf(region.epoch);
  const generated = await ctx.runner.schedule(RegionTask.gen({ regionId, term, applyState, snapshot }));
  if (!generated) throw new CancelledError(`flush of region ${regionId.toString()} was cancelled`);
  const manifest = newManifest(region, ctx.nodeId, ctx.time.now(), {
    walEntryId: applyState.appliedIndex,
    snapshot: generated.name,
    sha256: generated.sha256,
    size: generated.size,
    kvCount: generated.kvCount,
    maxTs: applyState.maxTs,
  });
  await writeManifest(ctx.storage, manifest);
  await ctx.wal.obsolete(regionId, applyState.appliedIndex);
  schedulePurge(ctx, regionId, 1);
  return manifest;
}

/** Deletes all but the newest `keep` manifests of a region and the snapshots only they named. */
export async function purgeRegionObjects(
  ctx: WorkerContext,
  regionId: RegionId,
  keep: number,
): Promise<number> {
  const names = await listManifests(ctx.storage, regionId);
  const doomed = names.slice(0, Math.max(0, names.length - keep));
  const kept = new Set<string>();
  for (const name of names.slice(doomed.length)) {
    const snapshot = (await readManifest(ctx.storage, name)).snapshot;
    if (snapshot) kept.add(snapshot);
  }
  for (const name of doomed) {
    const snapshot = (await readManifest(ctx.storage, name).catch(() => undefined))?.snapshot;
    // The manifest goes first: an open never finds a manifest whose snapshot is gone.
    await ctx.storage.delete(name);
    if (snapshot && !kept.has(snapshot)) await ctx.storage.delete(snapshot);
  }
  return doomed.length;
}

export function schedulePurge(ctx: WorkerContext, regionId: RegionId, keep: number): void {
  void ctx.purgeScheduler
    .schedule(() => purgeRegionObjects(ctx, regionId, keep))
    .catch((err: unknown) =>
      ctx.logger.warn({ region: regionId.toString(), err }, 'purge of old snapshots failed'),
    );
}

/** Compaction: RocksDB range compaction of the region, then MVCC GC below the retention window. */
export async function compactRegion(ctx: WorkerContext, region: WorkerRegion): Promise<MvccGcResult> {
  const retention = region.options.gcRetentionMs ?? ctx.config.gcRetentionMs;
  const safePoint = composeTimestamp(Math.max(0, Math.floor(ctx.time.now() - retention)));
  const gc = await mvccGc(ctx.engine, region.range, safePoint);
  const bounds = regionDataBounds(region.range);
  await ctx.engine.compactRange(CF_DEFAULT, bounds.start, bounds.end);
  return gc;
}

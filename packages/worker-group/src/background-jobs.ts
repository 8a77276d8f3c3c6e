import { randomBytes } from 'node:crypto';
import {
  CancelledError,
  InternalError,
  NotLeaderError,
  RegionId,
  failpoint,
  type Timestamp,
} from '@regionstore/core';
import {
  CF_DEFAULT,
  mvccGc,
  readApplyState,
  readRegionLocalState,
  type MvccGcResult,
  type RegionEpoch,
  fenceEpochOf,
} from '@regionstore/engine';
import { RegionTask, regionDataBounds } from '@regionstore/region-runner';
import {
  commitOutcome,
  committedManifest,
  fullFlushDue,
  latestManifest,
  manifestFiles,
  manifestName,
  manifestRange,
  newManifest,
  purgeRegionObjects,
  writeAndCommit,
  writeDelta,
  type FlushManifest,
} from '@regionstore/region-files';
import type { WorkerContext } from './context';
import type { ManifestHook } from './requests';
import { NoFlushToInherit } from './inherit-flush';
import type { WorkerRegion } from './region';

/**
 * Flush: an incremental flush writes a delta file of the WAL entries since the latest manifest, a full
 * one a region snapshot (region-runner Gen); then the manifest naming the files and the WAL entry they
 * cover, then the WAL trimmed up to that entry (less what followers still need), in that order, so a crash at any point leaves a state
 * an open can recover from.
 */
export interface FlushOptions {
  /** Asked for a full flush, a delta wherever possible, or whatever is due (see fullFlushDue). */
  kind: 'full' | 'incremental' | 'due';
  /** Cancels the snapshot generation of a full flush. */
  signal?: AbortSignal;
  /** Run after the files are written, before the manifest (see ManifestHook). */
  hooks?: ManifestHook[];
}

export async function flushRegion(
  ctx: WorkerContext,
  region: WorkerRegion,
  { kind, signal, hooks = [] }: FlushOptions,
): Promise<FlushManifest> {
  const { regionId } = region;
  // Only a leader flushes: a follower's files would take the leader's names (same term and entry).
  if (!region.isWritable)
    throw new NotLeaderError(
      `region ${regionId.toString()} does not lead on ${ctx.nodeId}; its leader flushes it`,
      {
        regionId: regionId.toString(),
      },
    );
  const truncates = region.truncates;
  const snapshot = ctx.engine.snapshot();
  let applyState;
  let local;
  let previousNamed;
  let trimmedEntryId;
  try {
    // The region's range and epoch as of the snapshot, as a full flush's data has them: a split or
    // merge may change them while the flush runs, and the manifest must name what the flush holds.
    [applyState, local] = await Promise.all([
      readApplyState(snapshot, regionId),
      readRegionLocalState(snapshot, regionId),
    ]);
    [previousNamed, trimmedEntryId] = await Promise.all([
      committedManifest(ctx, regionId),
      ctx.wal.position(regionId).then((p) => p.trimmedEntryId),
    ]);
  } catch (err) {
    await snapshot.release();
    throw err;
  }
  if (!applyState || !local) {
    await snapshot.release();
    throw new InternalError(`region ${regionId.toString()} has no apply or local state to flush`);
  }
  const captured = { regionId, range: local.range, epoch: local.epoch };
  await checkSplitChildFlushed(ctx, region, captured.epoch, hooks.length > 0).catch(async (err: unknown) => {
    await snapshot.release();
    throw err;
  });
  const previous = previousNamed?.manifest;
  const term = fenceEpochOf(captured.epoch);
  const walEntryId = applyState.appliedIndex;
  let manifest: FlushManifest;
  const full =
    kind === 'full' ||
    !previous ||
    fullFlushDue(
      previous,
      { trimmedEntryId, walEntryId, ...captured, incremental: kind === 'incremental' },
      ctx.config,
    );
  // The previous manifest is a snapshot of this range at this term and entry: generating it again
  // would write the same data once more (under a name of its own: no flush writes over another's).
  const flushedRange = previous && manifestRange(previous);
  const sameSnapshot =
    previous?.snapshot &&
    !previous.inheritedFrom &&
    previous.deltas.length === 0 &&
    previous.walEntryId === walEntryId &&
    previous.term === term &&
    previous.epoch.version === captured.epoch.version &&
    flushedRange?.start.equals(captured.range.start) &&
    flushedRange.end.equals(captured.range.end);
  if ((full && !sameSnapshot) || !previous) {
    // The split's flush: a snapshot of the parent's half is nothing the child can copy.
    if (hooks.length > 0) {
      await snapshot.release();
      throw new NoFlushToInherit(`region ${regionId.toString()} would flush whole for its split`);
    }
    const generated = await ctx.runner.schedule(
      RegionTask.gen({
        regionId,
        term,
        applyState,
        snapshot,
        tag: `${captured.epoch.version}-${randomBytes(4).toString('hex')}`,
        ...(signal ? { signal } : {}),
      }),
    );
    if (!generated) throw new CancelledError(`flush of region ${regionId.toString()} was cancelled`);
    ctx.metrics.flushBytes.inc({ kind: 'snapshot' }, generated.size);
    manifest = newManifest(captured, ctx.nodeId, ctx.time.now(), {
      walEntryId,
      snapshot: generated.name,
      sha256: generated.sha256,
      size: generated.size,
      kvCount: generated.kvCount,
      maxTs: applyState.maxTs,
    });
  } else {
    await snapshot.release(); // the delta comes from the WAL, which says what those entries wrote
    const deltas = [...previous.deltas];
    if (walEntryId > previous.walEntryId) {
      const compression = ctx.runner.config.snapshotCompression;
      const delta = await writeDelta(
        { ...ctx, compression },
        { regionId, term },
        previous.walEntryId,
        walEntryId,
      );
      ctx.metrics.flushBytes.inc({ kind: 'delta' }, delta.size);
      deltas.push(delta);
    }
    manifest = {
      ...newManifest(captured, ctx.nodeId, ctx.time.now(), {
        walEntryId,
        snapshot: previous.snapshot,
        sha256: previous.sha256,
        size: previous.size,
        kvCount: previous.kvCount,
        maxTs: applyState.maxTs,
        deltas,
      }),
      term: previous.term, // with the first delta's start it names the snapshot
      // Still a split child's copies of its parent's files (a delta on them: a split of the child).
      ...(previous.inheritedFrom ? { inheritedFrom: previous.inheritedFrom } : {}),
    };
  }
  let written: string | undefined;
  try {
    await checkStillLeading(ctx, region, captured.epoch);
    for (const hook of hooks) await hook(manifest);
    // The hooks may take seconds (copies on S3): the node must still lead when its manifest goes out.
    if (hooks.length > 0) await checkStillLeading(ctx, region, captured.epoch);
    // A truncate meanwhile wrote an empty manifest at its entry, maybe this one: this flush would undo it.
    if (region.truncates !== truncates)
      throw new CancelledError(`region ${regionId.toString()} was truncated while it flushed`);
    // Set with no wait after the truncate check above, so a truncate from now on waits for this
    // manifest and its commit, then commits its own over it.
    region.manifestWrite = (async () => {
      await failpoint('region_flush_manifest_write'); // a test hook: the write started, not landed
      written = manifestName(regionId, manifest, previousNamed?.name);
      // The commit is what makes the manifest count, fenced in Redis: a node that lost the region
      // since its checks above, however long it paused, commits nothing, so deletes nothing.
      await writeAndCommit(ctx, written, manifest, () =>
        ctx.wal.commitFlush(regionId, {
          fence: { nodeId: ctx.nodeId, epoch: term },
          manifest: written!,
          previous: previousNamed?.committed,
          uptoId: walEntryId,
          // Followers that lag a little keep tailing instead of reloading the region from its flushes.
          retain: {
            floorId: region.retainFloor(walEntryId, ctx.config.followerWalFlushes),
            leader: ctx.nodeId,
            staleMs: ctx.config.followerStaleMs,
          },
        }),
      );
    })();
    await region.manifestWrite;
  } catch (err) {
    // When the WAL could not say whether it counts, its manifest and files stay.
    const outcome = written === undefined ? 'refused' : await commitOutcome(ctx.wal, regionId, written);
    if (outcome === 'refused') await undoFlush(ctx, manifest, written, previous);
    throw err;
  }
  schedulePurge(ctx, regionId);
  return manifest;
}

/**
 * Deletes what a flush that committed nothing wrote: its manifest first (writeAndCommit did, unless the
 * WAL could not say then), then its files, none of which any manifest will name. Deleted before the flush ends: the region's next flush (after this
 * one, on this node) may write the same names, which a delete still queued then would take from under
 * its manifest. Whatever the committed and the newest manifests name now stays too (a same-named file
 * another flush wrote meanwhile). Nothing goes while the WAL names no committed manifest: a new leader
 * may then have loaded the last listed one, which could be this flush's.
 */
async function undoFlush(
  ctx: WorkerContext,
  manifest: FlushManifest,
  written: string | undefined,
  previous: FlushManifest | undefined,
): Promise<void> {
  const regionId = RegionId.parse(manifest.regionId);
  if (written !== undefined) await ctx.storage.delete(written).catch(() => undefined);
  const [committed, latest] = await Promise.all([
    committedManifest(ctx, regionId).catch(() => undefined),
    latestManifest(ctx.storage, regionId).catch(() => undefined),
  ]);
  if (committed?.committed === undefined) return;
  const named = [previous, committed.manifest, latest].flatMap((m) => (m ? manifestFiles(m) : []));
  await deleteUnnamedFiles(ctx, manifest, named);
}

/**
 * Refuses a flush at the epoch of a split whose child has no manifest yet, unless it is the split's own
 * (it has the hook that writes the child's first). The child's manifest may exist by now (written by
 * another path): then the split is past that point for good.
 */
async function checkSplitChildFlushed(
  ctx: WorkerContext,
  region: WorkerRegion,
  epoch: RegionEpoch,
  forTheSplit: boolean,
): Promise<void> {
  const child = region.splitChildPending;
  if (!child || forTheSplit || epoch.version < region.epoch.version) return;
  if (await latestManifest(ctx.storage, child)) {
    if (region.splitChildPending === child) region.splitChildPending = undefined;
    return;
  }
  throw new CancelledError(
    `region ${region.regionId.toString()} split: its flush waits until child ${child.toString()} has one`,
    { regionId: region.regionId.toString(), child: child.toString() },
  );
}

/**
 * A flush that outlived this node's leadership (a migration moved the region on while it ran: the
 * downgrade does not stop it) writes no manifest. Its manifest, at a later WAL entry than the new
 * leader's, would be the region's newest, and the purge after it would delete the files the new
 * leader's flushes and splits build on.
 */
async function checkStillLeading(
  ctx: WorkerContext,
  region: WorkerRegion,
  epoch: RegionEpoch,
): Promise<void> {
  const fence = region.isWritable && !region.closed ? await ctx.wal.fence(region.regionId) : undefined;
  if (fence?.nodeId === ctx.nodeId && fence.epoch === fenceEpochOf(epoch)) return;
  throw new NotLeaderError(
    `region ${region.regionId.toString()} stopped leading on ${ctx.nodeId} while it flushed; its flush is dropped`,
    { regionId: region.regionId.toString(), leader: fence?.nodeId ?? null },
  );
}

/**
 * Deletes the files of `manifest` that `kept` does not name, when no manifest will name them: a
 * manifest replaced at the same entry (a full flush with no write since, a split child's first flush
 * of its own took its name, so no purge will find it), or one never written (its flush failed).
 */
async function deleteUnnamedFiles(
  ctx: WorkerContext,
  manifest: FlushManifest,
  kept: readonly string[],
): Promise<void> {
  const keep = new Set(kept);
  for (const file of manifestFiles(manifest).filter((name) => !keep.has(name))) {
    await ctx.storage
      .delete(file)
      .catch((err: unknown) =>
        ctx.logger.warn(
          { regionId: manifest.regionId, file, err },
          'deleting a file no manifest names failed',
        ),
      );
  }
}

export function schedulePurge(ctx: WorkerContext, regionId: RegionId): void {
  void ctx.purgeScheduler
    .schedule(() => purgeRegionObjects(ctx, regionId))
    .catch((err: unknown) =>
      ctx.logger.warn({ regionId: regionId.toString(), err }, 'purge of old snapshots failed'),
    );
}

/**
 * Compaction: MVCC GC of the region below the cluster GC safepoint this node knows (within the node's
 * GC rate limit), then, when it deleted anything, a RocksDB range compaction so the space comes back.
 */
export async function compactRegion(
  ctx: WorkerContext,
  region: WorkerRegion,
): Promise<{ gc: MvccGcResult; safePoint: Timestamp }> {
  const safePoint = ctx.gcSafePoint.value;
  const gc = await mvccGc(ctx.engine, region.range, safePoint, {
    throttle: (bytes) => ctx.gcLimiter.acquire(bytes),
  });
  await failpoint('region_gc_collected'); // a test hook: collected, its latest pointers not yet dropped
  ctx.metrics.gcVersions.inc(gc.deleted);
  ctx.metrics.gcBytes.inc(gc.deletedBytes);
  if (gc.deleted > 0) {
    const bounds = regionDataBounds(region.range);
    await ctx.engine.compactRange(CF_DEFAULT, bounds.start, bounds.end);
  }
  return { gc, safePoint };
}

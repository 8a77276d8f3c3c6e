import {
  ChecksumMismatchError,
  CorruptFileError,
  EpochNotMatchError,
  InternalError,
  NotFoundError,
  WalRegressionError,
  failpoint,
  isRegionStoreError,
  parseTimestamp,
  type KeyRange,
  RegionId,
} from '@regionstore/core';
import {
  CF_RAFT,
  DATA_CFS,
  WriteBatch,
  applyStateKey,
  readApplyState,
  readRegionLocalState,
  writeApplyState,
  writeRegionLocalState,
  type RegionApplyState,
  type RegionEpoch,
} from '@regionstore/engine';
import type { WalPosition } from '@regionstore/log-store';
import { ApplyStatus, RegionTask, prepareSnapshotApply, regionDataBounds } from '@regionstore/region-runner';
import { applyDelta, committedManifest, deltaBytes } from '@regionstore/region-files';
import type { WorkerContext } from './context';
import { catchUpByDeltas } from './delta-catchup';
import type { IdentifiedWrite } from './recent-writes';
import { replayWal } from './replay';

/** Loads of one region in a row that may find the WAL trimmed past them before one sticks. */
const MAX_RECOVER_ATTEMPTS = 8;

export interface RecoveredRegion {
  lastEntryId: number;
  flushedEntryId: number;
  /** WAL bytes applied by this recovery; no flushed snapshot covers them yet. */
  replayedBytes: number;
  /** Size of the snapshot the region was loaded from; 0 when it was not loaded from one. */
  snapshotBytes: number;
  /** The region's highest commit ts (the node's timestamp floor is raised to it). */
  maxTs: bigint;
  /** The WAL incarnation the region's local copy now follows. */
  walIncarnation: string | undefined;
  /** The entry the WAL replay started after, and the id-carrying writes it applied. */
  replayedFrom: number;
  replayedWrites: IdentifiedWrite[];
  /** The highest commit ts before the replay: what the copy holds at or below it came from a flush. */
  loadedMaxTs: bigint;
}

/** The region's local state, naming the WAL incarnation its data was applied from. */
function writeNormalState(
  batch: WriteBatch,
  region: { regionId: RegionId; range: KeyRange; epoch: RegionEpoch },
  walIncarnation: string | undefined,
): void {
  writeRegionLocalState(batch, {
    ...region,
    state: 'Normal',
    ...(walIncarnation === undefined ? {} : { walIncarnation }),
  });
}

/** Records that the region's local data now follows the WAL's current incarnation (after a truncate). */
export async function markWalIncarnation(
  ctx: WorkerContext,
  region: { regionId: RegionId; range: KeyRange; epoch: RegionEpoch },
): Promise<void> {
  const { incarnation } = await ctx.wal.position(region.regionId);
  const batch = new WriteBatch();
  writeNormalState(batch, region, incarnation);
  await ctx.engine.write(batch);
}

/** Removes whatever the engine holds in the region's range (leftovers of an earlier placement). */
export async function clearRegionData(ctx: WorkerContext, range: KeyRange): Promise<void> {
  for (const cf of DATA_CFS) await ctx.engine.deleteRanges(cf, 'DeleteByRange', [regionDataBounds(range)]);
}

/**
 * The apply state to continue from: the local data when this node kept the region (state Normal, no
 * deletion pending over it), applied from this very WAL (same incarnation), and the WAL still reaches
 * it; otherwise the latest flush, opened fresh. Pending deletions over the range run first, so none can
 * run later under the open region. A WAL that ends before what the local copy applied or the latest
 * flush covers went back in time (a Redis that lost writes): the region is not opened.
 */
async function startingPoint(
  ctx: WorkerContext,
  regionId: RegionId,
  range: KeyRange,
  epoch: RegionEpoch,
  wal: WalPosition,
): Promise<{ applied: RegionApplyState; snapshotBytes: number }> {
  const drained = await ctx.runner.drainOverlapRanges(range);
  const local = await readRegionLocalState(ctx.engine, regionId);
  const applied = await readApplyState(ctx.engine, regionId);
  const keptHere = drained === 0 && local?.state === 'Normal' && applied !== undefined;
  // Only the same region: its range and epoch version as asked for (a copy from before a split or a
  // merge holds another range's data, and is loaded anew instead).
  const continuable =
    keptHere &&
    local.walIncarnation === wal.incarnation &&
    local.epoch.version === epoch.version &&
    local.range.start.equals(range.start) &&
    local.range.end.equals(range.end);
  if (continuable) {
    if (applied.appliedIndex > wal.lastEntryId)
      throw walRegression(ctx, regionId, wal.lastEntryId, applied.appliedIndex, 'this node applied');
    if (applied.appliedIndex >= wal.trimmedEntryId) return { applied, snapshotBytes: 0 };
  }

  const manifest = (await committedManifest(ctx, regionId))?.manifest;
  if (manifest && manifest.walEntryId > wal.lastEntryId)
    throw walRegression(ctx, regionId, wal.lastEntryId, manifest.walEntryId, 'its latest flush covers');
  // A flush at a newer epoch version holds the region after a split its opener does not know of: only
  // part of the range it was asked to open. Loading it would serve the rest as empty.
  if (manifest && manifest.epoch.version > epoch.version) {
    throw new EpochNotMatchError(
      `region ${regionId.toString()} was flushed at epoch version ${manifest.epoch.version}, past the ${epoch.version} it is opened at (split meanwhile)`,
      { regionId: regionId.toString(), flushed: manifest.epoch, requested: epoch },
    );
  }
  if (continuable && manifest) {
    const caughtUp = await catchUpByDeltas(ctx, manifest, applied, range);
    if (caughtUp) return { applied: caughtUp, snapshotBytes: 0 };
  }
  // The region's highest commit ts as of the manifest, for the apply state it starts from.
  const maxTs = manifest?.maxTs === undefined ? {} : { maxTs: parseTimestamp(manifest.maxTs) };
  if (manifest?.snapshot) {
    // The snapshot file is named by the entry it was taken at, which deltas may have moved past.
    const base = manifest.deltas[0]?.fromEntryId ?? manifest.walEntryId;
    const key = { regionId, term: manifest.term, index: base };
    await prepareSnapshotApply(ctx.engine, { regionId, range, epoch }, key);
    // Loaded by the name the manifest records, and only if it still holds the bytes recorded. A split
    // child's first flush names its parent's snapshot (copied under the child): see inherit-flush.
    const task = RegionTask.apply(regionId, undefined, {
      name: manifest.snapshot,
      region: manifest.inheritedFrom ? RegionId.parse(manifest.inheritedFrom) : regionId,
      ...(manifest.sha256 ? { sha256: manifest.sha256 } : {}),
    });
    const status = await ctx.runner.schedule(task);
    // A damaged file, or another file under the name, is named as such (as a damaged delta is).
    const error = task.handle.error;
    if (error instanceof ChecksumMismatchError || error instanceof CorruptFileError) throw error;
    if (status !== ApplyStatus.Finished) {
      throw new InternalError(
        `loading snapshot ${manifest.snapshot} of region ${regionId.toString()} ended ${status}: ${task.handle.error?.message ?? ''}`,
        { regionId: regionId.toString(), snapshot: manifest.snapshot, status },
        { cause: task.handle.error },
      );
    }
    for (const delta of manifest.deltas) await applyDelta(ctx.engine, ctx.storage, delta, range);
    return {
      applied: {
        appliedIndex: manifest.walEntryId,
        truncatedIndex: manifest.walEntryId,
        truncatedTerm: manifest.term,
        ...maxTs,
      },
      snapshotBytes: manifest.size + deltaBytes(manifest),
    };
  }
  const from = manifest?.walEntryId ?? 0;
  if (wal.trimmedEntryId > from) {
    throw new NotFoundError(
      `region ${regionId.toString()}: WAL is trimmed up to ${wal.trimmedEntryId} but no flushed snapshot covers it`,
      { regionId: regionId.toString(), trimmedUpTo: wal.trimmedEntryId },
    );
  }
  // Empty as of `from` (a new region, or a truncate's manifest).
  await clearRegionData(ctx, range);
  return {
    applied: {
      appliedIndex: from,
      truncatedIndex: from,
      truncatedTerm: manifest?.term ?? 0,
      ...maxTs,
    },
    snapshotBytes: 0,
  };
}

/**
 * Counted, logged with the region and the gap, and thrown (or a write failed with it): such a region
 * must not be served. `walEnd`: where the WAL ended, before `entryId` that `holder` (a copy, a flush).
 */
export function walRegression(
  ctx: WorkerContext,
  regionId: RegionId,
  walEnd: number,
  entryId: number,
  holder: string,
): WalRegressionError {
  const region = regionId.toString();
  const gap = { region, walLastEntryId: walEnd, expectedAtLeast: entryId, missing: entryId - walEnd };
  ctx.metrics.walRegressions.inc({ region });
  ctx.logger.error(
    gap,
    `WAL regression: region ${region}'s WAL ends at entry ${walEnd}, but ${holder} entry ${entryId}; not serving it`,
  );
  return new WalRegressionError(
    `region ${region}: the WAL ends at entry ${walEnd}, before entry ${entryId} that ${holder}; ` +
      'Redis lost writes (restored from an old AOF, a failover to a lagging replica). ' +
      'The region is not served; `regionctl cluster recover` rebuilds its WAL from the latest flush.',
    { regionId: region, walLastEntryId: walEnd, entryId, holder },
  );
}

/**
 * An open at an epoch older than the one the region had when it left this node is a stale request
 * (a job of a procedure that has since moved on): opening it would bring back a placement that no
 * longer exists.
 */
export async function checkNotTombstoned(ctx: WorkerContext, regionId: RegionId, epoch: RegionEpoch) {
  const local = await readRegionLocalState(ctx.engine, regionId);
  if (local?.state === 'Tombstone' && local.epoch.confVer > epoch.confVer) {
    throw new EpochNotMatchError(
      `region ${regionId.toString()} left node ${ctx.nodeId} at epoch ${local.epoch.confVer}; refusing to open it at older epoch ${epoch.confVer}`,
      { regionId: regionId.toString(), tombstoneEpoch: local.epoch, requested: epoch },
    );
  }
}

/**
 * The region leaves this node: its local state becomes Tombstone and its apply state goes, in one
 * batch, before its range is registered for deletion, less the ranges of other regions open here (after
 * a split or merge a newer copy may hold part of it). If the region comes back it is opened fresh
 * (snapshot + WAL), never from what is left here.
 */
export async function tombstoneRegion(
  ctx: WorkerContext,
  regionId: RegionId,
  range: KeyRange,
  epoch: RegionEpoch,
): Promise<void> {
  const batch = new WriteBatch();
  writeRegionLocalState(batch, { regionId, state: 'Tombstone', range, epoch });
  batch.delete(CF_RAFT, applyStateKey(regionId));
  await ctx.engine.write(batch);
  await ctx.runner.registerDestroy(RegionTask.destroy(regionId, range.start, range.end), () =>
    ctx.liveRanges(regionId),
  );
}

/**
 * The WAL was trimmed past what a load needs next, or a file of the flush it loads was purged: a newer
 * flush replaced it, and loading again goes on from that one.
 */
function flushMovedOn(err: unknown): boolean {
  if (err instanceof InternalError && err.cause !== undefined) return flushMovedOn(err.cause);
  return isRegionStoreError(err, 'NotFound') && ('trimmedUpTo' in err.details || 'name' in err.details);
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
  let loadedBytes = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      const wal = await ctx.wal.position(regionId);
      const { applied, snapshotBytes } = await startingPoint(ctx, regionId, range, epoch, wal);
      loadedBytes = Math.max(loadedBytes, snapshotBytes);
      const batch = new WriteBatch();
      writeNormalState(batch, { regionId, range, epoch }, wal.incarnation);
      writeApplyState(batch, regionId, applied);
      await ctx.engine.write(batch);
      // What the region's last leader promised followers: a new leader commits above it.
      ctx.concurrency.timestamps.updateMaxTs(wal.resolvedTs);
      await failpoint('region_loaded_before_wal');
      const replayed = await replayWal({
        engine: ctx.engine,
        wal: ctx.wal,
        regionId,
        applied,
        timestamps: ctx.concurrency.timestamps,
        ...(toId === undefined ? {} : { toId }),
      });
      return {
        lastEntryId: replayed.lastEntryId,
        flushedEntryId: applied.truncatedIndex,
        replayedBytes: replayed.bytes,
        snapshotBytes: loadedBytes,
        maxTs: replayed.maxTs,
        walIncarnation: wal.incarnation,
        replayedFrom: applied.appliedIndex,
        replayedWrites: replayed.writes,
        // Nothing loaded (a new region): the replay saw every write. Else, for a state written before
        // commit timestamps were kept, all that is known is the node's floor.
        loadedMaxTs: applied.maxTs ?? (applied.appliedIndex === 0 ? 0n : ctx.concurrency.timestamps.maxTs()),
      };
    } catch (err) {
      // A load of a large region takes seconds, and meanwhile its leader may flush and trim the WAL
      // entries the loaded flush needs next. The copy is then at that flush's entry: the next round
      // goes on from the newer flush's deltas (a full load only when a compaction replaced them), so
      // the load converges however fast the leader writes.
      if (!flushMovedOn(err) || attempt >= MAX_RECOVER_ATTEMPTS) throw err;
      ctx.metrics.walRetries.inc();
      ctx.logger.info(
        { regionId: regionId.toString(), attempt, reason: (err as Error).message },
        'the WAL moved past the loaded flush; going on from the newer flush',
      );
    }
  }
}

import { failpoint } from '@regionstore/core';
import { fenceEpochOf } from '@regionstore/engine';
import type { FollowerPosition, WalEntry } from '@regionstore/log-store';
import type { WorkerContext } from './context';
import { recoverRegion } from './recover';
import { recentWritesAfter } from './recent-writes';
import { type WorkerRegion } from './region';
import { addUnflushed, applyEntries } from './replay';

/**
 * A follower takes what its tailer read: the WAL entries after the ones it applied, and now and then
 * the WAL's position. Runs on the region's worker, so it never races the region's DDL (a promotion,
 * a close). A region that stopped following meanwhile ignores it.
 */
export async function applyFollowerTail(
  ctx: WorkerContext,
  region: WorkerRegion,
  entries: WalEntry[],
  position: FollowerPosition | undefined,
): Promise<void> {
  if (region.role !== 'Follower') return;
  await failpoint('follower_apply_tail');
  const changedIncarnation = position !== undefined && position.incarnation !== region.walIncarnation;
  const fresh = entries.filter((e) => e.id > region.lastEntryId);
  // Trimmed past what it applied: the entries it lacks are in a flush now, not in the WAL.
  const gap =
    fresh.length > 0
      ? fresh[0]!.id !== region.lastEntryId + 1
      : position !== undefined && position.trimmedEntryId > region.lastEntryId;
  if (changedIncarnation || gap) {
    // The entries it needs were trimmed (it fell a flush behind), or the WAL was rebuilt (a truncate,
    // a recovery): it starts again from the latest flush, as an open elsewhere would.
    await reload(ctx, region);
  } else if (fresh.length > 0) {
    const applied = await applyEntries(
      ctx.engine,
      region.regionId,
      {
        appliedIndex: region.lastEntryId,
        truncatedIndex: region.flushedEntryId,
        truncatedTerm: fenceEpochOf(region.epoch),
        maxTs: region.maxTs,
      },
      fresh,
      ctx.concurrency.timestamps,
    );
    region.lastEntryId = applied.lastEntryId;
    region.maxTs = applied.maxTs;
    region.recentWrites.record(applied.writes, applied.lastEntryId, ctx.time.now());
    addUnflushed(ctx, region, applied.bytes);
    ctx.metrics.followerAppliedEntries.inc(fresh.length);
  }
  if (position) {
    if (position.resolvedTs > region.resolved.ts)
      region.resolved = { ts: position.resolvedTs, entryId: position.resolvedEntryId };
    region.lagEntries = Math.max(0, position.lastEntryId - region.lastEntryId);
    // What the leader flushed no longer lives only in the WAL: a follower promoted later flushes less.
    if (position.trimmedEntryId > region.flushedEntryId) {
      region.flushedEntryId = position.trimmedEntryId;
      region.writtenBytes = 0;
    }
  }
}

async function reload(ctx: WorkerContext, region: WorkerRegion): Promise<void> {
  ctx.logger.info(
    { regionId: region.regionId.toString(), appliedUpTo: region.lastEntryId },
    'follower reloads from the latest flush',
  );
  const recovered = await region.reloading(() =>
    recoverRegion(ctx, region.regionId, region.range, region.epoch),
  );
  region.recentWrites = recentWritesAfter(region.recentWrites, recovered, ctx.time.now());
  region.lastEntryId = recovered.lastEntryId;
  region.flushedEntryId = recovered.flushedEntryId;
  region.maxTs = recovered.maxTs;
  region.walIncarnation = recovered.walIncarnation;
  region.snapshotBytes = recovered.snapshotBytes;
  region.writtenBytes = recovered.replayedBytes;
  ctx.metrics.followerReloads.inc();
}

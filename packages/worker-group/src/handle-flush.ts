import { ServerIsBusyError, rangeContains } from '@regionstore/core';
import { dropLatestDeletes } from '@regionstore/engine';
import { deltaBytes } from '@regionstore/region-files';
import { compactRegion, flushRegion } from './background-jobs';
import type { WorkerContext } from './context';
import type { RegionMap, WorkerRegion } from './region';
import type { Reply } from './reply';
import type { BackgroundNotify, DdlResult } from './requests';
import type { StalledRequests } from './stalled-requests';

/** What a flush or compaction ending needs of the worker. */
export interface FlushWorkerState {
  readonly regions: RegionMap;
  readonly stalled: StalledRequests;
  /** Tells every worker a flush finished (writes stalled on the write buffer may go on). */
  notifyGroup(): void;
  /** Retries the writes stalled on this worker. */
  handleStalledRequests(): Promise<void>;
}

/** Starts a flush of the region unless one runs; its waiters hear when it ends. */
export function scheduleFlush(ctx: WorkerContext, region: WorkerRegion): void {
  if (region.flushing) return; // its waiters are answered when the running flush ends
  region.flushing = true;
  region.flushingBytes = region.writtenBytes;
  const kind = region.fullFlushWanted ? 'full' : region.incrementalFlushWanted ? 'incremental' : 'due';
  region.fullFlushWanted = false;
  region.incrementalFlushWanted = false;
  const abort = new AbortController();
  region.flushAbort = abort;
  const hooks = region.manifestHooks.splice(0);
  const { truncates } = region;
  const stop = ctx.metrics.jobDuration.startTimer({ job: 'flush' });
  ctx.flushScheduler
    .schedule(() => flushRegion(ctx, region, { kind, signal: abort.signal, hooks }))
    .then(
      (manifest) => {
        stop({ outcome: 'success' });
        ctx.notifyWorker(region, {
          type: 'flushFinished',
          walEntryId: manifest.walEntryId,
          flushedBytes: region.flushingBytes,
          truncates,
          snapshotBytes: manifest.size + deltaBytes(manifest),
        });
      },
      (err: unknown) => {
        stop({ outcome: 'fail' });
        ctx.notifyWorker(region, { type: 'flushFailed', error: err as Error });
      },
    );
}

/** Requests that came while the last flush ran get a flush of their own, started now. */
function startNextFlush(ctx: WorkerContext, region: WorkerRegion): void {
  if (region.nextFlushWaiters.length === 0) return;
  region.flushWaiters.push(...region.nextFlushWaiters.splice(0));
  region.manifestHooks.push(...region.nextManifestHooks.splice(0));
  scheduleFlush(ctx, region);
}

/**
 * MVCC GC and compaction of the region in the background (asked for, or due at the periodic check);
 * `reply` hears when it ends. One runs at a time per region: a request meanwhile hears of that one.
 */
export function scheduleCompaction(ctx: WorkerContext, region: WorkerRegion, reply?: Reply<DdlResult>): void {
  if (reply) region.compactWaiters.push(reply);
  if (region.compacting) return;
  region.compacting = true;
  const stop = ctx.metrics.jobDuration.startTimer({ job: 'compaction' });
  ctx.compactionScheduler
    .schedule(() => compactRegion(ctx, region))
    .then(
      ({ gc, safePoint }) => {
        stop({ outcome: 'success' });
        ctx.notifyWorker(region, { type: 'compactionFinished', gc, safePoint });
      },
      (err: unknown) => {
        stop({ outcome: 'fail' });
        ctx.notifyWorker(region, { type: 'compactionFailed', error: err as Error });
      },
    );
}

/**
 * A background job of one of the worker's regions ended. Runs in the worker's loop, between write
 * batches, so nothing it changes races a write.
 */
export async function handleBackgroundNotify(
  ctx: WorkerContext,
  worker: FlushWorkerState,
  region: WorkerRegion,
  notify: BackgroundNotify,
): Promise<void> {
  // Closed meanwhile, or closed and opened again: the open region's state and waiters are not this job's.
  if (worker.regions.get(region.regionId) !== region) return;
  const { regionId } = region;
  switch (notify.type) {
    case 'flushFinished': {
      region.flushing = false;
      region.flushAbort = undefined;
      region.flushedEntryId = Math.max(region.flushedEntryId, notify.walEntryId);
      // A truncate since the flush began gave back all the region had (this flush's bytes with it).
      const flushed = notify.truncates === region.truncates ? notify.flushedBytes : 0;
      region.writtenBytes = Math.max(0, region.writtenBytes - flushed);
      region.snapshotBytes = notify.snapshotBytes;
      region.lastFlushMs = ctx.time.now();
      // A region that stopped leading meanwhile gave its bytes back then.
      if (region.isWritable) ctx.writeBuffer.free(flushed);
      ctx.metrics.writeBufferBytes.set(ctx.writeBuffer.memoryUsage);
      for (const waiter of region.flushWaiters.splice(0)) waiter.send({ lastEntryId: notify.walEntryId });
      startNextFlush(ctx, region);
      worker.notifyGroup();
      await worker.handleStalledRequests();
      return;
    }
    case 'flushFailed': {
      region.flushing = false;
      region.flushAbort = undefined;
      for (const waiter of region.flushWaiters.splice(0)) waiter.fail(notify.error);
      startNextFlush(ctx, region);
      // Writes stalled on this region would wait for a flush that is not coming (unless one started).
      // They never reached the WAL: ServerIsBusy tells a client to try again (a split refusing the
      // flush, an object store failing over), where the flush's own error would end the write.
      if (!region.flushing) {
        const busy = new ServerIsBusyError(
          `region ${regionId.toString()} could not flush to make room for this write (${notify.error.message}); try again`,
          { regionId: regionId.toString() },
          { cause: notify.error },
        );
        for (const write of worker.stalled.remove(regionId)) write.reply.fail(busy);
      }
      return;
    }
    case 'compactionFinished':
      region.compacting = false;
      if (notify.safePoint > region.gcSafePoint) region.gcSafePoint = notify.safePoint;
      // Here, between this region's write batches, no write can replace a delete in between; but keys a
      // split gave away since the GC began, or all of them once a merge prepared this region as its
      // source, take writes on another worker now, so those pointers stay (a pointer to a dropped delete
      // still reads as absent).
      await dropLatestDeletes(
        ctx.engine,
        region.role === 'DowngradingLeader'
          ? []
          : notify.gc.newestDeletes.filter((d) => rangeContains(region.range, d.key)),
      ).catch((err: unknown) =>
        ctx.logger.warn({ regionId: regionId.toString(), err }, 'dropping collected deletes failed'),
      );
      for (const waiter of region.compactWaiters.splice(0)) waiter.send({ lastEntryId: region.lastEntryId });
      return;
    case 'compactionFailed':
      region.compacting = false;
      ctx.logger.warn({ regionId: regionId.toString(), err: notify.error }, 'compaction failed');
      for (const waiter of region.compactWaiters.splice(0)) waiter.fail(notify.error);
      return;
  }
}

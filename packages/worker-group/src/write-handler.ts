import {
  EpochNotMatchError,
  InvalidArgumentError,
  KeyNotInRangeError,
  NotLeaderError,
  RegionNotFoundError,
  WriteBufferFullError,
  escapeKey,
  formatRange,
  failpoint,
  groupBy,
  isRegionStoreError,
  rangeContains,
  type RegionStoreError,
} from '@regionstore/core';
import { WriteBatch, writeApplyState, type WriteGuard } from '@regionstore/engine';
import type { WorkerContext } from './context';
import { fenceEpochOf, type RegionMap, type WorkerRegion } from './region';
import { addUnflushed, catchUpWithWal, changeRole } from './replay';
import { addRecords } from './wal-apply';
import { estimatedSize, type WriteRequest } from './requests';
import type { StalledRequests, StalledWrite } from './stalled-requests';
import { encodeWalRecord, type WalRecord } from './wal-entry';

export interface WriteWorkerState {
  id: number;
  regions: RegionMap;
  stalled: StalledRequests;
  /** Flushes this worker's largest region (the write buffer is over its limit), or asks the group to. */
  maybeFlushWorker(askGroup: boolean): void;
  /** Flushes the region if its unflushed WAL has grown past its share. */
  maybeFlushRegion(region: WorkerRegion): void;
  /** The region failed in a way only a reopen can mend. */
  closeRegion(region: WorkerRegion, reason: Error): void;
}

function validate(ctx: WorkerContext, regions: RegionMap, request: WriteRequest): WorkerRegion {
  const region = regions.get(request.regionId);
  const id = request.regionId.toString();
  if (!region)
    throw new RegionNotFoundError(`region ${id} is not open on node ${ctx.nodeId}`, { regionId: id });
  if (!region.isWritable) {
    throw new NotLeaderError(`node ${ctx.nodeId} does not lead region ${id} (it is ${region.role})`, {
      regionId: id,
      role: region.role,
    });
  }
  if (
    request.epoch &&
    (request.epoch.version !== region.epoch.version || request.epoch.confVer !== region.epoch.confVer)
  ) {
    throw new EpochNotMatchError(`region ${id} is at epoch ${region.epoch.version}/${region.epoch.confVer}`, {
      regionId: id,
      epoch: region.epoch,
      range: { start: region.range.start.toString('base64'), end: region.range.end.toString('base64') },
    });
  }
  if (request.mutations.length === 0)
    throw new InvalidArgumentError(`write to region ${id} has no mutations`);
  for (const m of request.mutations) {
    if (m.key.length === 0 || m.key.length > ctx.config.maxKeyBytes) {
      throw new InvalidArgumentError(
        `key of ${m.key.length} bytes: keys must be 1..${ctx.config.maxKeyBytes} bytes`,
      );
    }
    if (m.op === 'put' && m.value.length > ctx.config.maxValueBytes) {
      throw new InvalidArgumentError(`value of ${m.value.length} bytes exceeds ${ctx.config.maxValueBytes}`);
    }
    if (!rangeContains(region.range, m.key)) {
      throw new KeyNotInRangeError(
        `key ${escapeKey(m.key)} is not in region ${id} ${formatRange(region.range)}`,
        {
          regionId: id,
          key: m.key.toString('base64'),
        },
      );
    }
  }
  return region;
}

interface Accepted {
  write: StalledWrite;
  region: WorkerRegion;
  guard: WriteGuard;
  record: WalRecord;
  entry: Buffer;
  size: number;
  entryId?: number;
}

/**
 * The write path of one worker batch: validate → commit ts and write intents → one fenced WAL append
 * per region (all sent at once, so one round trip) → one engine write batch for everything with each
 * region's apply state → release intents → reply. A write is answered only after WAL and engine.
 */
export async function handleWrites(
  ctx: WorkerContext,
  worker: WriteWorkerState,
  writes: StalledWrite[],
  allowStall: boolean,
): Promise<void> {
  if (writes.length === 0) return;
  const worker_ = String(worker.id);
  if (ctx.writeBuffer.shouldReject()) {
    ctx.metrics.rejectedWrites.inc(writes.length);
    const err = new WriteBufferFullError(
      `write buffer of node ${ctx.nodeId} is full (${ctx.writeBuffer.memoryUsage} of ${ctx.writeBuffer.rejectSize} bytes)`,
      { usage: ctx.writeBuffer.memoryUsage, rejectSize: ctx.writeBuffer.rejectSize },
    );
    for (const write of writes) write.reply.fail(err);
    return;
  }
  if (ctx.writeBuffer.shouldFlushEngine()) worker.maybeFlushWorker(true);
  if (allowStall && ctx.writeBuffer.shouldStall()) {
    worker.stalled.append(writes);
    ctx.metrics.writeStalls.inc({ worker: worker_ }, writes.length);
    ctx.metrics.stalledRequests.set({ worker: worker_ }, worker.stalled.stalledCount());
    return;
  }

  const accepted: Accepted[] = [];
  for (const write of writes) {
    let region: WorkerRegion;
    try {
      region = validate(ctx, worker.regions, write.request);
    } catch (err) {
      write.reply.fail(err);
      continue;
    }
    const guard = ctx.concurrency.beginWrite(
      write.request.mutations.map((m) => m.key),
      write.request.commitTs,
    );
    const record: WalRecord = { ts: guard.ts, mutations: write.request.mutations };
    if (write.request.commitTs !== undefined) record.restored = true;
    accepted.push({
      write,
      region,
      guard,
      record,
      entry: encodeWalRecord(record),
      size: estimatedSize(write.request),
    });
  }
  if (accepted.length === 0) return;

  try {
    const byRegion = groupBy(accepted, (item) => item.region);
    const appended = await Promise.all(
      [...byRegion].map(async ([region, items]) => {
        try {
          if (region.walUncertain) await catchUpWithWal(ctx, region);
          const fence = { nodeId: ctx.nodeId, epoch: fenceEpochOf(region.epoch) };
          const last = await ctx.wal.append(
            region.regionId,
            items.map((i) => i.entry),
            fence,
          );
          await failpoint('wal_append_reply_lost'); // `throw`: the entries are in, the reply is lost
          items.forEach((item, at) => (item.entryId = last - items.length + 1 + at));
          return { region, items, last };
        } catch (err) {
          // Fenced out: another node leads now; stop taking writes at once. Any other failure may
          // have come after Redis took the entries.
          if (err instanceof Error && isRegionStoreError(err, 'NotLeader'))
            changeRole(ctx, region, 'Follower');
          else region.walUncertain = true;
          for (const item of items) item.write.reply.fail(err);
          return undefined;
        }
      }),
    );
    const logged = appended.filter((r) => r !== undefined);
    if (logged.length === 0) return;

    // Each region's highest commit ts with this batch, persisted with it (see RegionApplyState.maxTs).
    const maxTs = new Map<WorkerRegion, bigint>();
    try {
      const batch = new WriteBatch();
      for (const { region, items, last } of logged) {
        await addRecords(
          ctx.engine,
          batch,
          items.map((i) => i.record),
        );
        const highest = items.reduce((max, i) => (i.guard.ts > max ? i.guard.ts : max), region.maxTs);
        maxTs.set(region, highest);
        writeApplyState(batch, region.regionId, {
          appliedIndex: last,
          truncatedIndex: region.flushedEntryId,
          truncatedTerm: fenceEpochOf(region.epoch),
          maxTs: highest,
        });
      }
      await ctx.engine.write(batch);
    } catch (err) {
      // The WAL has entries the engine lacks; only a reopen (replay) makes the region whole again.
      for (const { region, items } of logged) {
        for (const item of items) item.write.reply.fail(err);
        worker.closeRegion(region, err as RegionStoreError);
      }
      return;
    }
    for (const { region, items, last } of logged) {
      region.lastEntryId = last;
      region.maxTs = maxTs.get(region)!;
      for (const item of items) {
        addUnflushed(ctx, region, item.size);
        item.write.reply.send({ commitTs: item.guard.ts, entryId: item.entryId! });
      }
      worker.maybeFlushRegion(region);
    }
    ctx.metrics.writeBufferBytes.set(ctx.writeBuffer.memoryUsage);
  } finally {
    for (const item of accepted) item.guard.release();
  }
}

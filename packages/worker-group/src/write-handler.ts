import {
  EpochNotMatchError,
  InvalidArgumentError,
  KeyNotInRangeError,
  NotLeaderError,
  RegionNotFoundError,
  ServerIsBusyError,
  WRITE_ATTEMPT_MAX_AGE_MS,
  WriteBufferFullError,
  escapeKey,
  formatRange,
  failpoint,
  groupBy,
  isRegionStoreError,
  rangeContains,
  type RegionStoreError,
} from '@regionstore/core';
import { WriteBatch, writeApplyState, type WriteGuard, fenceEpochOf } from '@regionstore/engine';
import { encodeWalRecord, type WalRecord } from '@regionstore/region-files';
import type { WorkerContext } from './context';
import { type RegionMap, type WorkerRegion } from './region';
import { addUnflushed, catchUpWithWal, changeRole } from './replay';
import { addRecords } from './wal-apply';
import { walRegression } from './recover';
import { findWrite, type IdentifiedWrite } from './recent-writes';
import { estimatedSize, type WriteRequest, type WriteResult } from './requests';
import type { StalledRequests, StalledWrite } from './stalled-requests';

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
  /** Copies of this write (same id) that came in the same batch: they get its answer. */
  repeats?: StalledWrite[];
}

function unconfirmedError(region: WorkerRegion): ServerIsBusyError {
  return new ServerIsBusyError(
    `region ${region.regionId.toString()} has the write in its WAL, but no append since has confirmed ` +
      `it on the replicas; send it again`,
    { regionId: region.regionId.toString(), outcome: 'unknown' },
  );
}

function succeed(item: Accepted, result: WriteResult): void {
  item.write.reply.send(result);
  for (const repeat of item.repeats ?? []) repeat.reply.send(result);
}

function fail(item: Accepted, err: unknown): void {
  item.write.reply.fail(err);
  for (const repeat of item.repeats ?? []) repeat.reply.fail(err);
}

/** A re-sent write a region committed, whose entry no acknowledged append has confirmed yet. */
interface Unconfirmed {
  write: StalledWrite;
  result: WriteResult;
}

/** The writes of one region's batch to append, and the re-sent ones answered once an append lands. */
interface Sorted {
  fresh: Accepted[];
  unconfirmed: Unconfirmed[];
}

function answerRepeat(ctx: WorkerContext, write: StalledWrite, result: WriteResult): void {
  ctx.metrics.repeatedWrites.inc();
  write.reply.send(result);
}

/**
 * Whether a write whose id the region does not know surely never landed: a re-send (`retry`) only if
 * the region knows every write since its call began; any attempt only if its call is young enough that
 * the region would still remember an earlier attempt (one held up somewhere while the client re-sent).
 */
function mayApply(ctx: WorkerContext, region: WorkerRegion, firstSentMs: number, retry: boolean): boolean {
  if (ctx.time.now() - firstSentMs > WRITE_ATTEMPT_MAX_AGE_MS) return false;
  return !retry || region.recentWrites.knowsWritesSince(firstSentMs);
}

/**
 * Answers the writes a region already committed (re-sent by a client that did not get the answer)
 * with their first answer, and those it cannot tell about with an unknown outcome; copies within the
 * batch ride on the first. Runs after any uncertain append was applied, so the table holds what that
 * append left in the WAL. Where appends wait for replicas, an entry such a catch-up (or an open) found
 * may be on the primary only: its answer waits for an acknowledged append after it.
 */
function withoutRepeats(ctx: WorkerContext, region: WorkerRegion, items: Accepted[]): Sorted {
  const sorted: Sorted = { fresh: [], unconfirmed: [] };
  const inBatch = new Map<string, Accepted>();
  for (const item of items) {
    const { writeId, firstSentMs, retry } = item.write.request;
    if (writeId === undefined) {
      sorted.fresh.push(item);
      continue;
    }
    const committed = region.recentWrites.find(writeId);
    const first = findWrite(inBatch, writeId);
    if (committed) {
      // A flushed entry lives in the object store, whatever Redis's replicas have.
      const confirmed = Math.max(region.confirmedEntryId, region.flushedEntryId);
      if (ctx.wal.confirmsOnReplicas && committed.entryId > confirmed)
        sorted.unconfirmed.push({ write: item.write, result: committed });
      else answerRepeat(ctx, item.write, committed);
    } else if (first) {
      (first.repeats ??= []).push(item.write);
    } else if (firstSentMs !== undefined && !mayApply(ctx, region, firstSentMs, retry === true)) {
      item.write.reply.fail(
        new ServerIsBusyError(
          `region ${region.regionId.toString()} cannot tell whether write ${writeId} landed: this copy ` +
            `does not know every write since its call began (it was loaded from a flush since, or forgot)`,
          { regionId: region.regionId.toString(), writeId, outcome: 'unknown', final: true },
        ),
      );
    } else {
      inBatch.set(writeId, item);
      sorted.fresh.push(item);
    }
  }
  return sorted;
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
    if (write.request.writeId !== undefined) record.writeId = write.request.writeId;
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
      [...byRegion].map(async ([region, batchItems]) => {
        let items = batchItems;
        let unconfirmed: Unconfirmed[] = [];
        try {
          if (region.walUncertain) await catchUpWithWal(ctx, region);
          ({ fresh: items, unconfirmed } = withoutRepeats(ctx, region, batchItems));
          if (items.length === 0) {
            for (const { write } of unconfirmed) write.reply.fail(unconfirmedError(region));
            return undefined;
          }
          const fence = { nodeId: ctx.nodeId, epoch: fenceEpochOf(region.epoch) };
          const last = await ctx.wal.append(
            region.regionId,
            items.map((i) => i.entry),
            fence,
          );
          await failpoint('wal_append_reply_lost'); // `throw`: the entries are in, the reply is lost
          if (last !== region.lastEntryId + items.length) {
            // The WAL did not end where this region's writes did: Redis went back (restarted from an
            // older AOF, failed over to a lagging replica) and these entries took ids it had already
            // applied. Not acknowledged, and the region closed: its reopen reports the regression.
            const err = walRegression(
              ctx,
              region.regionId,
              last - items.length,
              region.lastEntryId,
              'this node applied',
            );
            for (const item of items) fail(item, err);
            for (const { write } of unconfirmed) write.reply.fail(err);
            worker.closeRegion(region, err);
            return undefined;
          }
          items.forEach((item, at) => (item.entryId = last - items.length + 1 + at));
          // Acknowledged (on enough replicas, where asked): so is every entry before it.
          region.confirmedEntryId = last;
          for (const { write, result } of unconfirmed) answerRepeat(ctx, write, result);
          return { region, items, last };
        } catch (err) {
          // Fenced out: another node leads now; stop taking writes at once. Any other failure may
          // have come after Redis took the entries.
          if (err instanceof Error && isRegionStoreError(err, 'NotLeader'))
            changeRole(ctx, region, 'Follower');
          else region.walUncertain = true;
          for (const item of items) fail(item, err);
          for (const { write } of unconfirmed) write.reply.fail(err);
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
        for (const item of items) fail(item, err);
        worker.closeRegion(region, err as RegionStoreError);
      }
      return;
    }
    const now = ctx.time.now();
    for (const { region, items, last } of logged) {
      region.lastEntryId = last;
      region.maxTs = maxTs.get(region)!;
      const identified: IdentifiedWrite[] = [];
      for (const item of items) {
        addUnflushed(ctx, region, item.size);
        const result = { commitTs: item.guard.ts, entryId: item.entryId! };
        const { writeId } = item.write.request;
        if (writeId !== undefined) identified.push({ writeId, ...result });
        succeed(item, result);
      }
      region.recentWrites.record(identified, last, now);
      worker.maybeFlushRegion(region);
    }
    ctx.metrics.writeBufferBytes.set(ctx.writeBuffer.memoryUsage);
  } finally {
    for (const item of accepted) item.guard.release();
  }
}

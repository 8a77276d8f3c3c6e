import { NotFoundError, type RegionId, type TimestampAllocator } from '@regionstore/core';
import {
  WriteBatch,
  writeApplyState,
  type KvEngine,
  type RegionApplyState,
  fenceEpochOf,
} from '@regionstore/engine';
import type { LogStore, WalEntry } from '@regionstore/log-store';
import { decodeWalRecord } from '@regionstore/region-files';
import type { WorkerContext } from './context';
import type { IdentifiedWrite } from './recent-writes';
import type { WorkerRegion } from './region';
import type { RegionRole } from './requests';
import { addRecords } from './wal-apply';

export interface ReplayedWal {
  lastEntryId: number;
  bytes: number;
  /** The highest commit ts of the region after the replay (see RegionApplyState.maxTs). */
  maxTs: bigint;
  /** The applied writes that carried an id, in WAL order. */
  writes: IdentifiedWrite[];
}

/**
 * Applies WAL entries after `applied.appliedIndex` (up to `toId`, default the end) to the engine, one
 * write batch per WAL batch with the apply state in it, so a crash mid-replay resumes where it stopped.
 * Versions carry their original commit ts, so replaying an entry twice writes the same bytes.
 * Returns the last applied entry id and the WAL bytes applied.
 */
export async function replayWal(options: {
  engine: KvEngine;
  wal: LogStore;
  regionId: RegionId;
  applied: RegionApplyState;
  toId?: number;
  timestamps: TimestampAllocator;
}): Promise<ReplayedWal> {
  const { engine, wal, regionId, timestamps } = options;
  let last = options.applied.appliedIndex;
  let bytes = 0;
  let maxTs = options.applied.maxTs ?? 0n;
  const writes: IdentifiedWrite[] = [];
  // Later local writes must commit above anything the region holds, whichever clock gave it.
  timestamps.updateMaxTs(maxTs);
  const walLast = await wal.lastEntryId(regionId);
  if (options.toId !== undefined && options.toId > walLast) {
    throw new NotFoundError(
      `WAL of region ${regionId.toString()} ends at ${walLast}, cannot catch up to ${options.toId}`,
      { regionId: regionId.toString(), lastEntryId: walLast, entryId: options.toId },
    );
  }
  const readOptions = options.toId === undefined ? {} : { toId: options.toId };
  for await (const entries of wal.read(regionId, last + 1, readOptions)) {
    const applied = await applyEntries(
      engine,
      regionId,
      { ...options.applied, appliedIndex: last, maxTs },
      entries,
      timestamps,
    );
    last = applied.lastEntryId;
    maxTs = applied.maxTs;
    bytes += applied.bytes;
    for (const write of applied.writes) writes.push(write);
  }
  return { lastEntryId: last, bytes, maxTs, writes };
}

/**
 * Applies consecutive WAL entries following `applied.appliedIndex` in one write batch, with the apply
 * state moved past them (a replay and a follower's tail write the same thing).
 */
export async function applyEntries(
  engine: KvEngine,
  regionId: RegionId,
  applied: RegionApplyState,
  entries: WalEntry[],
  timestamps: TimestampAllocator,
): Promise<ReplayedWal> {
  let last = applied.appliedIndex;
  let maxTs = applied.maxTs ?? 0n;
  let bytes = 0;
  const batch = new WriteBatch();
  const records = entries.map((entry) => decodeWalRecord(entry.data, entry.id));
  await addRecords(engine, batch, records);
  const writes: IdentifiedWrite[] = [];
  for (const [i, entry] of entries.entries()) {
    const { ts, writeId } = records[i]!;
    if (writeId !== undefined) writes.push({ writeId, commitTs: ts, entryId: entry.id });
    timestamps.updateMaxTs(ts);
    if (ts > maxTs) maxTs = ts;
    last = entry.id;
    bytes += entry.data.length;
  }
  writeApplyState(batch, regionId, { ...applied, appliedIndex: last, maxTs });
  await engine.write(batch);
  return { lastEntryId: last, bytes, maxTs, writes };
}

/**
 * Counts bytes that live only in the WAL (no flushed snapshot covers them) against the region, and
 * against the node's write buffer if the region leads here: only a leader flushes them.
 */
export function addUnflushed(ctx: WorkerContext, region: WorkerRegion, bytes: number): void {
  region.writtenBytes += bytes;
  if (region.isWritable) ctx.writeBuffer.reserve(bytes);
}

/**
 * Changes a region's role. Its unflushed bytes count against the node's write buffer while it leads
 * (the leader flushes them), not while it follows.
 */
export function changeRole(ctx: WorkerContext, region: WorkerRegion, role: RegionRole): void {
  const wasWritable = region.isWritable;
  region.role = role;
  if (wasWritable && !region.isWritable) ctx.writeBuffer.free(region.writtenBytes);
  if (!wasWritable && region.isWritable) ctx.writeBuffer.reserve(region.writtenBytes);
}

/** Applies what an uncertain append may have left in the WAL, so the engine matches the WAL again. */
export async function catchUpWithWal(ctx: WorkerContext, region: WorkerRegion): Promise<void> {
  const replayed = await replayWal({
    engine: ctx.engine,
    wal: ctx.wal,
    regionId: region.regionId,
    applied: {
      appliedIndex: region.lastEntryId,
      truncatedIndex: region.flushedEntryId,
      truncatedTerm: fenceEpochOf(region.epoch),
      maxTs: region.maxTs,
    },
    timestamps: ctx.concurrency.timestamps,
  });
  region.lastEntryId = replayed.lastEntryId;
  region.maxTs = replayed.maxTs;
  region.recentWrites.record(replayed.writes, replayed.lastEntryId, ctx.time.now());
  addUnflushed(ctx, region, replayed.bytes);
  region.walUncertain = false;
}

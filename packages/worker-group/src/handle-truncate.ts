import { schedulePurge } from './background-jobs';
import type { WorkerContext } from './context';
import { emptyManifest, writeManifest } from './manifest';
import { clearRegionData, markWalIncarnation } from './recover';
import type { WorkerRegion } from './region';
import { catchUpWithWal } from './replay';
import type { DdlResult } from './requests';

/** Empties the region: a manifest without snapshot at its last entry, its data and WAL gone. */
export async function truncateRegion(ctx: WorkerContext, region: WorkerRegion): Promise<DdlResult> {
  // First, before any wait: a running flush checks this before its manifest, and one whose manifest
  // write already started is waited for, so the empty manifest below always lands last.
  region.truncates++;
  region.flushAbort?.abort();
  await region.manifestWrite?.catch(() => undefined);
  // Entries an uncertain append left past `last` would otherwise come back on the next open.
  if (region.walUncertain) await catchUpWithWal(ctx, region);
  const last = region.lastEntryId;
  // A manifest without snapshot first: an open anywhere now starts empty at `last`.
  await writeManifest(ctx.storage, emptyManifest(ctx, region, last, region.maxTs));
  await clearRegionData(ctx, region.range);
  await ctx.wal.obsolete(region.regionId, last);
  // A new WAL incarnation: followers (and any copy kept elsewhere) hold data from before the
  // truncate, and reopen from its manifest instead of going on from their own.
  await ctx.wal.restore(region.regionId, last);
  await markWalIncarnation(ctx, region);
  if (region.isWritable) ctx.writeBuffer.free(region.writtenBytes);
  region.writtenBytes = 0;
  region.flushedEntryId = last;
  schedulePurge(ctx, region.regionId, 1);
  return { lastEntryId: last };
}

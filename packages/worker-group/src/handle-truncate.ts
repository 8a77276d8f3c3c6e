import { fenceEpochOf } from '@regionstore/engine';
import { emptyManifest, manifestName, writeAndCommit } from '@regionstore/region-files';
import { schedulePurge } from './background-jobs';
import type { WorkerContext } from './context';
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
  // A manifest without snapshot first, committed (fenced: a node that lost the region truncates
  // nothing): an open anywhere now starts empty at `last`.
  const previous = await ctx.wal.committedManifest(region.regionId);
  const manifest = emptyManifest(ctx, region, last, region.maxTs);
  const name = manifestName(region.regionId, manifest, previous);
  await writeAndCommit(ctx, name, manifest, () =>
    ctx.wal.commitFlush(region.regionId, {
      fence: { nodeId: ctx.nodeId, epoch: fenceEpochOf(region.epoch) },
      manifest: name,
      previous,
      uptoId: last,
    }),
  );
  await clearRegionData(ctx, region.range);
  // A new WAL incarnation: followers (and any copy kept elsewhere) hold data from before the
  // truncate, and reopen from its manifest instead of going on from their own.
  await ctx.wal.restore(region.regionId, last);
  await markWalIncarnation(ctx, region);
  if (region.isWritable) ctx.writeBuffer.free(region.writtenBytes);
  region.writtenBytes = 0;
  region.flushedEntryId = last;
  schedulePurge(ctx, region.regionId);
  return { lastEntryId: last };
}

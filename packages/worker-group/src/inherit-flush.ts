import { NotFoundError, rangeCovers, type KeyRange, type RegionId } from '@regionstore/core';
import type { RegionEpoch } from '@regionstore/engine';
import type { WorkerContext } from './context';
import { inheritedName, writeDelta } from './delta-file';
import {
  latestManifest,
  manifestRange,
  newManifest,
  writeManifest,
  type DeltaFile,
  type FlushManifest,
} from './manifest';

/** Tries before giving up on a parent whose flushes move on underneath (a new flush purges the old). */
const ATTEMPTS = 3;

/**
 * A split child's first flush without writing its data again (GreptimeDB's region split, where the
 * children's manifests name the parent's files; here each child gets copies of them: hard links on a
 * local store, server-side copies on S3, so neither region's purges touch the other's). The parent's
 * latest flush holds the child's range as of that flush's WAL entry; a delta of the parent's WAL after
 * it up to `splitEntryId`, keeping only the child's keys, brings it to the split. The manifest covers
 * the child's own WAL up to entry 0, and loads keep only the child's range (see `inheritedFrom`).
 *
 * Undefined when the parent's flush cannot serve: none with a snapshot, one that does not hold the
 * child's range (written after the split), or one purged or WAL trimmed underneath each time. The
 * child is then flushed whole. A child that already has a manifest (a retried split) keeps it.
 */
export async function inheritParentFlush(
  ctx: WorkerContext,
  parent: RegionId,
  child: { regionId: RegionId; range: KeyRange; epoch: RegionEpoch; maxTs: bigint | undefined },
  splitEntryId: number,
): Promise<FlushManifest | undefined> {
  const existing = await latestManifest(ctx.storage, child.regionId);
  if (existing) return existing;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const flushed = await latestManifest(ctx.storage, parent);
    const range = flushed && manifestRange(flushed);
    if (!flushed?.snapshot || !range || !rangeCovers(range, child.range) || flushed.walEntryId > splitEntryId)
      return undefined;
    try {
      return await copyFlush(ctx, parent, { ...flushed, snapshot: flushed.snapshot }, child, splitEntryId);
    } catch (err) {
      // A newer flush of the parent purged these files, or trimmed the WAL after them: look again.
      if (!(err instanceof NotFoundError)) throw err;
      ctx.logger.info({ region: parent.toString(), err }, 'parent flush moved on while the child copied it');
    }
  }
  return undefined;
}

async function copyFlush(
  ctx: WorkerContext,
  parent: RegionId,
  flushed: FlushManifest & { snapshot: string },
  child: { regionId: RegionId; range: KeyRange; epoch: RegionEpoch; maxTs: bigint | undefined },
  splitEntryId: number,
): Promise<FlushManifest> {
  const into = (name: string) => inheritedName(name, parent, child.regionId);
  const deltas: DeltaFile[] = [];
  if (splitEntryId > flushed.walEntryId) {
    const compression = ctx.runner.config.snapshotCompression;
    const tail = await writeDelta(
      { ...ctx, compression },
      { regionId: parent, term: flushed.term },
      flushed.walEntryId,
      splitEntryId,
      child,
    );
    ctx.metrics.flushBytes.inc({ kind: 'delta' }, tail.size);
    deltas.push(tail);
  }
  const snapshot = into(flushed.snapshot);
  await ctx.storage.copy(flushed.snapshot, snapshot);
  const copied = await Promise.all(
    flushed.deltas.map(async (delta) => {
      await ctx.storage.copy(delta.name, into(delta.name));
      return { ...delta, name: into(delta.name) };
    }),
  );
  const manifest: FlushManifest = {
    ...newManifest(child, ctx.nodeId, ctx.time.now(), {
      walEntryId: 0,
      snapshot,
      sha256: flushed.sha256,
      size: flushed.size,
      kvCount: flushed.kvCount,
      maxTs: child.maxTs,
      deltas: [...copied, ...deltas],
    }),
    term: flushed.term,
    // The region whose snapshot file this is: the file says so, and a load checks it.
    inheritedFrom: flushed.inheritedFrom ?? parent.toString(),
  };
  await writeManifest(ctx.storage, manifest);
  ctx.logger.info(
    {
      region: child.regionId.toString(),
      parent: parent.toString(),
      files: 1 + copied.length,
      bytes: flushed.size + copied.reduce((sum, d) => sum + d.size, 0),
      tailEntries: splitEntryId - flushed.walEntryId,
    },
    'split child flushed by copying its parent flush',
  );
  return manifest;
}

import { parseTimestamp, type KeyRange } from '@regionstore/core';
import type { RegionApplyState } from '@regionstore/engine';
import { applyDelta } from '@regionstore/region-files';
import type { FlushManifest } from '@regionstore/region-files';
import type { WorkerContext } from './context';

/**
 * Brings a copy of a region that applied the WAL up to `applied.appliedIndex` to `manifest`'s entry by
 * the manifest's delta files alone, when one of them starts exactly there (the copy stopped at a flush
 * boundary: it loaded an earlier manifest of the same chain). Each delta holds what the entries after
 * its start wrote, so the copy ends as if it had applied the WAL itself, at a fraction of a full load.
 * Returns the apply state the copy is at then, or undefined when the deltas cannot take it there (no
 * delta starts at its entry, a full flush replaced the chain, or the chain is a split's inherited one):
 * it must load the latest flush whole. Only keys in `range` are written (a split's files hold more).
 */
export async function catchUpByDeltas(
  ctx: WorkerContext,
  manifest: FlushManifest,
  applied: RegionApplyState,
  range: KeyRange,
): Promise<RegionApplyState | undefined> {
  // An inherited chain counts its parent's WAL entries: none of them is a point of this region's WAL.
  if (manifest.inheritedFrom) return undefined;
  const first = manifest.deltas.findIndex((d) => d.fromEntryId === applied.appliedIndex);
  if (first < 0) return undefined;
  for (const delta of manifest.deltas.slice(first)) await applyDelta(ctx.engine, ctx.storage, delta, range);
  ctx.metrics.deltaCatchups.inc();
  const flushedMaxTs = manifest.maxTs === undefined ? 0n : parseTimestamp(manifest.maxTs);
  const maxTs = applied.maxTs !== undefined && applied.maxTs > flushedMaxTs ? applied.maxTs : flushedMaxTs;
  return {
    appliedIndex: manifest.walEntryId,
    truncatedIndex: manifest.walEntryId,
    truncatedTerm: manifest.term,
    maxTs,
  };
}

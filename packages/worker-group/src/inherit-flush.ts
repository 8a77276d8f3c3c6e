import { CancelledError, NotLeaderError, rangeCovers, type KeyRange, type RegionId } from '@regionstore/core';
import { type RegionEpoch, fenceEpochOf } from '@regionstore/engine';
import {
  committedManifest,
  latestManifest,
  manifestFiles,
  manifestRange,
  commitFirstManifest,
  newManifest,
  type FlushManifest,
} from '@regionstore/region-files';
import type { WorkerContext } from './context';
import type { ManifestHook } from './requests';

export interface SplitChild {
  regionId: RegionId;
  range: KeyRange;
  epoch: RegionEpoch;
  maxTs: bigint | undefined;
}

/**
 * The parent's flush for the split could not serve as the child's, so it stopped before its manifest:
 * the child is flushed whole, then the parent again (anyone else waiting on that flush sees Cancelled).
 */
export class NoFlushToInherit extends CancelledError {}

/**
 * The name of a split child's copy of its parent's file `name` (`snapshots/<parent>/…` or
 * `deltas/<parent>/…`): under the child, marked with the parent, so it never meets a name the child's
 * own flushes write.
 */
export function inheritedName(name: string, parent: RegionId, child: RegionId): string {
  const [kind, , ...rest] = name.split('/');
  return [kind, child.value.toString(), `from-${parent.value}-${rest.join('/')}`].join('/');
}

/**
 * The parent's latest flush when it holds the child's whole range as of an entry at or before the
 * split (a flush from before the split: a snapshot, its range covering the child's); else undefined.
 */
export async function inheritableFlush(
  ctx: WorkerContext,
  parent: RegionId,
  child: SplitChild,
  splitEntryId: number,
): Promise<FlushManifest | undefined> {
  const flushed = (await committedManifest(ctx, parent))?.manifest;
  const range = flushed && manifestRange(flushed);
  if (!flushed?.snapshot || !range || !rangeCovers(range, child.range) || flushed.walEntryId > splitEntryId)
    return undefined;
  return flushed;
}

/**
 * A split child's first flush without writing its data again (GreptimeDB's region split, where the
 * children's manifests name the parent's files). Runs in the parent's flush for the split, once its
 * delta of the WAL up to past the split is written and before its manifest is: the child's manifest
 * names copies of the same files (hard links on a local store, server-side copies on S3, so neither
 * region's purges touch the other's), which hold the parent's whole range up to that entry. It covers
 * the child's own WAL up to entry 0, and loads keep only the child's range (see `inheritedFrom`).
 *
 * `base` is the parent's flush from before the split (inheritableFlush): the files must still be its
 * files and their deltas, or they may hold only the parent's half (a snapshot written since), and the
 * hook refuses with NoFlushToInherit.
 */
export function inheritFlushHook(
  ctx: WorkerContext,
  parent: RegionId,
  base: FlushManifest,
  child: SplitChild,
): ManifestHook {
  return async (manifest) => {
    const extendsBase =
      manifest.snapshot === base.snapshot &&
      manifest.sha256 === base.sha256 &&
      base.deltas.every((delta, i) => manifest.deltas[i]?.sha256 === delta.sha256);
    if (!extendsBase || !manifest.snapshot)
      throw new NoFlushToInherit(
        `the split flush of region ${parent.toString()} does not extend its flush from before`,
      );
    // Another path gave the child its manifest meanwhile (a concurrent retry of the split): keep it.
    if (await latestManifest(ctx.storage, child.regionId)) return;
    // The child must still be this node's (a split abandoned meanwhile retired it): copies made for a
    // child whose commit is then refused would be left behind, a whole copy of the parent's files
    // (checked before the copies; a retire during them still leaves them).
    const fence = await ctx.wal.fence(child.regionId);
    if (fence?.nodeId !== ctx.nodeId || fence.epoch !== fenceEpochOf(child.epoch))
      throw new NotLeaderError(
        `split child ${child.regionId.toString()} is no longer this node's; its split is over here`,
        { regionId: child.regionId.toString() },
      );
    const into = (name: string) => inheritedName(name, parent, child.regionId);
    await Promise.all(manifestFiles(manifest).map((name) => ctx.storage.copy(name, into(name))));
    const inherited: FlushManifest = {
      ...newManifest(child, ctx.nodeId, ctx.time.now(), {
        walEntryId: 0,
        snapshot: into(manifest.snapshot),
        sha256: manifest.sha256,
        size: manifest.size,
        kvCount: manifest.kvCount,
        maxTs: child.maxTs,
        deltas: manifest.deltas.map((delta) => ({ ...delta, name: into(delta.name) })),
      }),
      term: manifest.term,
      // The region whose snapshot file this is: the file says so, and a load checks it.
      inheritedFrom: manifest.inheritedFrom ?? parent.toString(),
    };
    // Committed under the child's fence (this node's since the split): a split abandoned during the
    // copies retired the child's WAL, and then this manifest is deleted (the copies stay: narrow).
    await commitFirstManifest(ctx, inherited, { nodeId: ctx.nodeId, epoch: fenceEpochOf(child.epoch) });
    ctx.logger.info(
      {
        regionId: child.regionId.toString(),
        parent: parent.toString(),
        files: manifestFiles(manifest).length,
        bytes: manifest.size + manifest.deltas.reduce((sum, d) => sum + d.size, 0),
      },
      'split child flushed by copying its parent flush',
    );
  };
}

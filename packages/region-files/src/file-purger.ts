import type { RegionId } from '@regionstore/core';
import type { LogStore } from '@regionstore/log-store';
import type { ExternalStorage } from '@regionstore/storage-backends';
import { listManifests, manifestFiles, manifestPrefix, readManifest } from './manifest';

/** Where a region's files live, and the WAL that names its committed manifest. */
export interface RegionFilesDeps {
  storage: ExternalStorage;
  wal: Pick<LogStore, 'committedManifest'>;
}

/**
 * The WAL entry a flush wrote a file of the region at (a snapshot's entry, a delta's last); undefined
 * for any other name (a split child's copies of its parent's files).
 */
function flushedEntryOf(name: string): number | undefined {
  const found = /^(?:snapshots\/\d+\/\d+-(\d+)(?:-[^/]*)?|deltas\/\d+\/\d+-\d+-(\d+))\.rsst$/.exec(name);
  const entry = found?.[1] ?? found?.[2];
  return entry === undefined ? undefined : Number(entry);
}

/**
 * Deletes the region's files that no manifest from the committed one on names and that were written
 * at an entry before the committed manifest's: left by flushes whose manifest never counted (a node
 * killed mid-flush; each full snapshot has a name of its own, so no later flush replaces such a file).
 * No flush that may still commit wrote them: a leader's next flush starts at or past its last commit.
 */
async function deleteOrphans(
  ctx: RegionFilesDeps,
  regionId: RegionId,
  kept: ReadonlySet<string>,
  committedAt: number,
): Promise<void> {
  const orphans: string[] = [];
  for (const prefix of [`snapshots/${regionId.value}/`, `deltas/${regionId.value}/`]) {
    for await (const { name } of ctx.storage.list(prefix)) {
      const entry = flushedEntryOf(name);
      if (entry !== undefined && entry < committedAt && !kept.has(name)) orphans.push(name);
    }
  }
  for (const name of orphans) await ctx.storage.delete(name);
}

/**
 * Deletes the region's manifests listed before its committed one, and the files only they name. The
 * committed manifest and any listed after it stay, with their files: each commit builds on the one
 * before, so no later manifest names a file only older ones name. Then the files no manifest names
 * (deleteOrphans). Deletes nothing while the WAL names no committed manifest, or names one not listed.
 */
export async function purgeRegionObjects(ctx: RegionFilesDeps, regionId: RegionId): Promise<number> {
  const committed = await ctx.wal.committedManifest(regionId);
  const names = await listManifests(ctx.storage, regionId);
  const at = committed === undefined ? -1 : names.indexOf(committed);
  if (at <= 0) return 0;
  const doomed = names.slice(0, at);
  const kept = new Set<string>();
  let committedAt = 0;
  for (const [i, name] of names.slice(at).entries()) {
    const manifest = await readManifest(ctx.storage, name);
    if (i === 0) committedAt = manifest.walEntryId;
    for (const file of manifestFiles(manifest)) kept.add(file);
  }
  for (const name of doomed) {
    const manifest = await readManifest(ctx.storage, name).catch(() => undefined);
    // The manifest goes first: an open never finds a manifest whose files are gone.
    await ctx.storage.delete(name);
    for (const file of manifest ? manifestFiles(manifest) : []) {
      if (!kept.has(file)) await ctx.storage.delete(file);
    }
  }
  await deleteOrphans(ctx, regionId, kept, committedAt);
  return doomed.length;
}

/**
 * Deletes every object of a region that is gone (dropped, or merged into another): its manifests
 * first, so nothing ever finds one naming files already deleted, then its snapshots and deltas.
 */
export async function retireObjects(storage: ExternalStorage, regionId: RegionId): Promise<void> {
  for (const prefix of [
    manifestPrefix(regionId),
    `snapshots/${regionId.value}/`,
    `deltas/${regionId.value}/`,
  ]) {
    for await (const object of storage.list(prefix)) await storage.delete(object.name);
  }
}

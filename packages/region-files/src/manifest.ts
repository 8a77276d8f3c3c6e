import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { CorruptFileError, RegionId, isRegionStoreError, keyRange, type KeyRange } from '@regionstore/core';
import { fenceEpochOf, type RegionEpoch } from '@regionstore/engine';
import type { Fence, LogStore } from '@regionstore/log-store';
import type { ExternalStorage } from '@regionstore/storage-backends';
import { z } from 'zod';

/**
 * A delta file of an incremental flush: the versions of the WAL entries after `fromEntryId` up to
 * `toEntryId`, sorted and checksummed (a `.rsst` file, as snapshots are).
 */
export const deltaFileSchema = z.object({
  name: z.string(),
  fromEntryId: z.number().int().nonnegative(),
  toEntryId: z.number().int().nonnegative(),
  sha256: z.string(),
  size: z.number().int().nonnegative(),
  kvCount: z.number().int().nonnegative(),
});

export type DeltaFile = z.output<typeof deltaFileSchema>;

/**
 * A region's manifest, one object per version (named by the WAL entry it covers): the files that hold
 * the region as of `walEntryId`, so an open elsewhere loads them and replays the WAL after it. The base
 * `snapshot` (a full copy, written by a full flush, which is also the compaction) and the `deltas`
 * written since by incremental flushes, in WAL order, each continuing where the previous one ended.
 * A truncate writes one with neither: the region is empty as of that entry.
 */
export const flushManifestSchema = z.object({
  version: z.literal(1),
  regionId: z.string(),
  walEntryId: z.number().int().nonnegative(),
  /**
   * Term of the snapshot (the fence epoch that flushed it); with the entry it was taken at (the first
   * delta's `fromEntryId`, else walEntryId) it names the snapshot.
   */
  term: z.number().int().nonnegative(),
  snapshot: z.string().nullable(),
  sha256: z.string().nullable(),
  size: z.number().int().nonnegative(),
  kvCount: z.number().int().nonnegative(),
  epoch: z.object({ version: z.number().int().nonnegative(), confVer: z.number().int().nonnegative() }),
  createdAtMs: z.number(),
  /** The region's highest commit ts at the snapshot, decimal (see RegionApplyState.maxTs). */
  maxTs: z
    .string()
    .regex(/^\d{1,20}$/)
    .optional(),
  /** The region's range (base64), so a cluster recovery can rebuild its route from the manifest alone. */
  range: z.object({ start: z.base64(), end: z.base64() }).optional(),
  /** The node that wrote it. */
  nodeId: z.string().optional(),
  /** Incremental flushes since the snapshot; manifests from before incremental flushes have none. */
  deltas: z.array(deltaFileSchema).default([]),
  /**
   * A split child's first manifest: its files are copies of those of its parent (this region id), so
   * they hold the parent's whole range and their entry ids count the parent's WAL, not the child's.
   * Loads keep the child's range; the next flush is a full one, and no copy catches up by these deltas.
   */
  inheritedFrom: z.string().optional(),
});

export type FlushManifest = z.output<typeof flushManifestSchema>;

/** What a manifest says of the flush itself; the rest comes from the region. */
export type ManifestContent = Pick<
  FlushManifest,
  'walEntryId' | 'snapshot' | 'sha256' | 'size' | 'kvCount'
> & {
  maxTs: bigint | undefined;
  deltas?: DeltaFile[];
};

export function newManifest(
  region: { regionId: RegionId; range: KeyRange; epoch: RegionEpoch },
  nodeId: string,
  nowMs: number,
  content: ManifestContent,
): FlushManifest {
  const { maxTs, deltas = [], ...rest } = content;
  return {
    version: 1,
    regionId: region.regionId.toString(),
    term: fenceEpochOf(region.epoch),
    ...rest,
    deltas,
    epoch: { ...region.epoch },
    createdAtMs: nowMs,
    ...(maxTs === undefined ? {} : { maxTs: maxTs.toString() }),
    range: { start: region.range.start.toString('base64'), end: region.range.end.toString('base64') },
    nodeId,
  };
}

/** A manifest without snapshot: the region is empty as of `walEntryId` (a new or truncated region). */
export function emptyManifest(
  ctx: { nodeId: string; time: { now(): number } },
  region: { regionId: RegionId; range: KeyRange; epoch: RegionEpoch },
  walEntryId: number,
  maxTs: bigint | undefined,
): FlushManifest {
  return newManifest(region, ctx.nodeId, ctx.time.now(), {
    walEntryId,
    snapshot: null,
    sha256: null,
    size: 0,
    kvCount: 0,
    maxTs,
  });
}

/** Every object a manifest needs: its snapshot and its delta files. */
export function manifestFiles(manifest: FlushManifest): string[] {
  return [...(manifest.snapshot ? [manifest.snapshot] : []), ...manifest.deltas.map((d) => d.name)];
}

/** Bytes of the manifest's delta files. */
export function deltaBytes(manifest: FlushManifest): number {
  return manifest.deltas.reduce((sum, d) => sum + d.size, 0);
}

/** The region's range as its manifest records it; undefined for a manifest from before ranges were kept. */
export function manifestRange(manifest: FlushManifest): KeyRange | undefined {
  return manifest.range
    ? keyRange(Buffer.from(manifest.range.start, 'base64'), Buffer.from(manifest.range.end, 'base64'))
    : undefined;
}

/** The region ids that have manifests in the object store. */
export async function listManifestRegions(storage: ExternalStorage): Promise<RegionId[]> {
  const ids = new Set<string>();
  for await (const object of storage.list('manifests/')) {
    const id = object.name.split('/')[1];
    if (id && /^\d+$/.test(id)) ids.add(id);
  }
  return [...ids].map((id) => RegionId.fromBigInt(BigInt(id))).sort((a, b) => (a.value < b.value ? -1 : 1));
}

export function manifestPrefix(regionId: RegionId): string {
  return `manifests/${regionId.value}/`;
}

/** The fields a manifest's name sorts by: its entry, its term, its sequence at that entry and term. */
function nameFields(name: string): { entry: string; term: string; seq: number } {
  const base = name.slice(name.lastIndexOf('/') + 1, -'.json'.length);
  // Names from before terms were part of them hold the entry alone.
  const [entry = '', term = '', seq = '0'] = base.split('-');
  return { entry, term, seq: Number.parseInt(seq, 10) };
}

const orderKey = (name: string): string => {
  const { entry, term, seq } = nameFields(name);
  return `${entry}-${term.padStart(10, '0')}-${String(seq).padStart(6, '0')}-${name}`;
};

/**
 * The name of a manifest written after `previous` (the committed one it was built on): zero-padded
 * entry and term, so name order is entry order and, at one entry, term order; a sequence that grows
 * from `previous` at the same entry and term; and a random tail. No write ever replaces a manifest in
 * place, so one a node wrote after it lost the region never changes what the new leader loaded.
 */
export function manifestName(
  regionId: RegionId,
  manifest: Pick<FlushManifest, 'walEntryId' | 'term'>,
  previous?: string,
): string {
  const entry = String(manifest.walEntryId).padStart(20, '0');
  const term = String(manifest.term).padStart(10, '0');
  const before = previous === undefined ? undefined : nameFields(previous);
  const seq = before?.entry === entry && before.term === term ? before.seq + 1 : 0;
  const tail = randomBytes(4).toString('hex');
  return `${manifestPrefix(regionId)}${entry}-${term}-${String(seq).padStart(6, '0')}-${tail}.json`;
}

/** Writes `manifest` under a new name (see manifestName), which it returns. */
export async function writeManifest(
  storage: ExternalStorage,
  manifest: FlushManifest,
  previous?: string,
): Promise<string> {
  const name = manifestName(RegionId.parse(manifest.regionId), manifest, previous);
  await writeManifestAs(storage, name, manifest);
  return name;
}

/** Writes `manifest` as `name`: a name known before the write can be deleted after one that failed. */
export async function writeManifestAs(
  storage: ExternalStorage,
  name: string,
  manifest: FlushManifest,
): Promise<void> {
  const body = Buffer.from(JSON.stringify(manifest));
  await storage.write(name, Readable.from([body]), { size: body.length });
}

/**
 * Whether `name` is the region's committed manifest after its commit failed: a commit whose reply was
 * lost may have landed. `unknown` when the WAL cannot say.
 */
export async function commitOutcome(
  wal: Pick<LogStore, 'committedManifest'>,
  regionId: RegionId,
  name: string,
): Promise<'committed' | 'refused' | 'unknown'> {
  try {
    return (await wal.committedManifest(regionId)) === name ? 'committed' : 'refused';
  } catch {
    return 'unknown';
  }
}

/**
 * Writes `manifest` as `name`, then runs `commit` (its fenced commit in the WAL). Resolves once it is
 * committed, a lost reply included. Otherwise the manifest is deleted (kept when the WAL cannot say
 * whether it is committed) and the error rethrown: no open finds a manifest that never counted.
 */
export async function writeAndCommit(
  ctx: { storage: ExternalStorage; wal: Pick<LogStore, 'committedManifest'> },
  name: string,
  manifest: FlushManifest,
  commit: () => Promise<unknown>,
): Promise<void> {
  try {
    await writeManifestAs(ctx.storage, name, manifest);
    await commit();
  } catch (err) {
    const outcome = await commitOutcome(ctx.wal, RegionId.parse(manifest.regionId), name);
    if (outcome === 'committed') return;
    if (outcome === 'refused') await ctx.storage.delete(name).catch(() => undefined);
    throw err;
  }
}

/**
 * The first manifest of a region whose WAL names none (a new region, a split child), committed under
 * `fence`: from then on every open and flush of it goes by the committed manifest.
 */
export async function commitFirstManifest(
  ctx: { storage: ExternalStorage; wal: Pick<LogStore, 'committedManifest' | 'commitFlush'> },
  manifest: FlushManifest,
  fence: Fence,
): Promise<string> {
  const regionId = RegionId.parse(manifest.regionId);
  const name = manifestName(regionId, manifest);
  await writeAndCommit(ctx, name, manifest, () =>
    ctx.wal.commitFlush(regionId, { fence, manifest: name, previous: undefined, uptoId: 0 }),
  );
  return name;
}

/** The region's manifests in order: by entry, then term, then sequence. */
export async function listManifests(storage: ExternalStorage, regionId: RegionId): Promise<string[]> {
  const names: string[] = [];
  for await (const object of storage.list(manifestPrefix(regionId))) {
    if (object.name.endsWith('.json')) names.push(object.name);
  }
  const keys = new Map(names.map((name) => [name, orderKey(name)]));
  return names.sort((a, b) => (keys.get(a)! < keys.get(b)! ? -1 : 1));
}

export async function readManifest(storage: ExternalStorage, name: string): Promise<FlushManifest> {
  const chunks: Buffer[] = [];
  for await (const chunk of await storage.read(name)) chunks.push(chunk as Buffer);
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new CorruptFileError(`${name} is not JSON: ${(err as Error).message}`, { name });
  }
  const parsed = flushManifestSchema.safeParse(raw);
  if (!parsed.success)
    throw new CorruptFileError(`${name} is not a flush manifest: ${parsed.error.issues[0]?.message}`, {
      name,
    });
  return parsed.data;
}

/** A manifest and its name. */
export interface NamedManifest {
  name: string;
  manifest: FlushManifest;
  /** What the WAL names committed (a flush commits over it); undefined when it names none. */
  committed?: string | undefined;
}

/** The region's last listed manifest: whether it has any, and what a region with no commit loads. */
export async function lastListedManifest(
  storage: ExternalStorage,
  regionId: RegionId,
): Promise<NamedManifest | undefined> {
  const name = (await listManifests(storage, regionId)).at(-1);
  return name ? { name, manifest: await readManifest(storage, name) } : undefined;
}

export async function latestManifest(
  storage: ExternalStorage,
  regionId: RegionId,
): Promise<FlushManifest | undefined> {
  return (await lastListedManifest(storage, regionId))?.manifest;
}

/**
 * The manifest the region's WAL names committed (see LogStore.commitFlush): what opens load and
 * flushes build on. A manifest listed after it is one whose commit failed or has not happened, maybe
 * by a node that lost the region. A region whose WAL names none (written before commits, a split
 * child's first manifest, a WAL rebuilt after Redis lost it) has its last listed one.
 */
export async function committedManifest(
  ctx: { storage: ExternalStorage; wal: Pick<LogStore, 'committedManifest'> },
  regionId: RegionId,
): Promise<NamedManifest | undefined> {
  const committed = await ctx.wal.committedManifest(regionId);
  if (committed !== undefined) {
    try {
      return { name: committed, manifest: await readManifest(ctx.storage, committed), committed };
    } catch (err) {
      // Redis lost its last writes (a crash under `everysec`) and names a manifest purged since: the
      // last listed one is the region's newest, and a WAL that does not reach it is reported on open.
      if (!isRegionStoreError(err, 'NotFound')) throw err;
    }
  }
  const listed = await lastListedManifest(ctx.storage, regionId);
  return listed && { ...listed, committed };
}

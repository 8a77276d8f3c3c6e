import { Readable } from 'node:stream';
import { CorruptFileError, RegionId } from '@regionstore/core';
import type { ExternalStorage } from '@regionstore/storage-backends';
import { z } from 'zod';

/**
 * What a flush leaves in the object store next to its snapshot: which WAL entry the snapshot covers,
 * so an open elsewhere loads the snapshot and replays the WAL after it. A truncate writes one with no
 * snapshot: the region is empty as of that entry.
 */
export const flushManifestSchema = z.object({
  version: z.literal(1),
  regionId: z.string(),
  walEntryId: z.number().int().nonnegative(),
  /** Term of the snapshot (the fence epoch that flushed it); with walEntryId it names the snapshot. */
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
});

export type FlushManifest = z.output<typeof flushManifestSchema>;

export function manifestPrefix(regionId: RegionId): string {
  return `manifests/${regionId.value}/`;
}

/** Zero-padded, so name order is entry order and the last listed manifest is the latest. */
export function manifestName(regionId: RegionId, walEntryId: number): string {
  return `${manifestPrefix(regionId)}${String(walEntryId).padStart(20, '0')}.json`;
}

export async function writeManifest(storage: ExternalStorage, manifest: FlushManifest): Promise<string> {
  const name = manifestName(RegionId.parse(manifest.regionId), manifest.walEntryId);
  const body = Buffer.from(JSON.stringify(manifest));
  await storage.write(name, Readable.from([body]), { size: body.length });
  return name;
}

export async function listManifests(storage: ExternalStorage, regionId: RegionId): Promise<string[]> {
  const names: string[] = [];
  for await (const object of storage.list(manifestPrefix(regionId))) {
    if (object.name.endsWith('.json')) names.push(object.name);
  }
  return names.sort();
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

export async function latestManifest(
  storage: ExternalStorage,
  regionId: RegionId,
): Promise<FlushManifest | undefined> {
  const names = await listManifests(storage, regionId);
  const last = names.at(-1);
  return last ? readManifest(storage, last) : undefined;
}

import { Readable } from 'node:stream';
import { RegionId, keyRange } from '@regionstore/core';
import {
  newManifest,
  purgeRegionObjects,
  retireObjects,
  writeManifest,
  type DeltaFile,
} from '@regionstore/region-files';
import { createStorage, type ExternalStorage } from '@regionstore/storage-backends';

const REGION = RegionId.fromBigInt(7n);
const ALL = keyRange(Buffer.alloc(0), Buffer.alloc(0));
const EPOCH = { version: 1, confVer: 1 };

let storage: ExternalStorage;
let run = 0;
beforeEach(() => {
  storage = createStorage(`memory://file-purger-${++run}`);
});

async function put(name: string): Promise<string> {
  await storage.write(name, Readable.from([Buffer.from(name)]));
  return name;
}

async function names(): Promise<string[]> {
  const out: string[] = [];
  for await (const object of storage.list('')) out.push(object.name);
  return out.sort();
}

const delta = (name: string): DeltaFile => ({
  name,
  fromEntryId: 0,
  toEntryId: 0,
  sha256: 'x',
  size: 1,
  kvCount: 1,
});

/** Writes a manifest at `walEntryId` naming `snapshot` and `deltas` (already written). */
async function manifestAt(walEntryId: number, snapshot: string, deltas: string[] = [], previous?: string) {
  const content = { walEntryId, snapshot, sha256: 'x', size: 1, kvCount: 1, maxTs: undefined };
  const body = newManifest({ regionId: REGION, range: ALL, epoch: EPOCH }, 'n1', 0, {
    ...content,
    deltas: deltas.map(delta),
  });
  return writeManifest(storage, body, previous);
}

const walNaming = (name: string | undefined) => ({ committedManifest: async () => name });

describe('purgeRegionObjects', () => {
  it('deletes the manifests before the committed one and the files only they name; keeps later ones', async () => {
    const s1 = await put('snapshots/7/1-10.rsst');
    const d1 = await put('deltas/7/1-10-20.rsst');
    const s2 = await put('snapshots/7/1-30.rsst');
    // Named only by a manifest listed after the committed one, at an entry before it: kept all the same.
    const d2 = await put('deltas/7/1-25-28.rsst');
    const m1 = await manifestAt(10, s1);
    const m2 = await manifestAt(20, s1, [d1], m1);
    const m3 = await manifestAt(30, s2, [], m2);
    // Listed after the committed one: a flush in flight, whose files stay.
    const m4 = await manifestAt(40, s2, [d2], m3);

    expect(await purgeRegionObjects({ storage, wal: walNaming(m3) }, REGION)).toBe(2);
    expect(await names()).toEqual([d2, m3, m4, s2].sort());
  });

  it('deletes files no kept manifest names from before the committed entry, and only those', async () => {
    const s1 = await put('snapshots/7/1-10.rsst');
    const m1 = await manifestAt(10, s1);
    const s2 = await put('snapshots/7/1-30.rsst');
    const m2 = await manifestAt(30, s2, [], m1);
    // A node killed mid-flush left these; only the one from before the committed entry is surely dead.
    const early = await put('deltas/7/1-10-20.rsst');
    const late = await put('snapshots/7/2-40.rsst');
    const atCommit = await put('deltas/7/1-20-30.rsst');
    // A split child's copies of its parent's files are not named by entry: left alone.
    const inherited = await put('snapshots/7/from-6-1-10.rsst');

    await purgeRegionObjects({ storage, wal: walNaming(m2) }, REGION);
    const left = await names();
    expect(left).not.toContain(early);
    expect(left).not.toContain(m1);
    expect(left).toEqual(expect.arrayContaining([m2, s2, late, atCommit, inherited]));
  });

  it('deletes nothing while the WAL names no committed manifest, or one not listed', async () => {
    const s1 = await put('snapshots/7/1-10.rsst');
    const m1 = await manifestAt(10, s1);
    const s2 = await put('snapshots/7/1-30.rsst');
    await manifestAt(30, s2, [], m1);
    const before = await names();

    expect(await purgeRegionObjects({ storage, wal: walNaming(undefined) }, REGION)).toBe(0);
    expect(await purgeRegionObjects({ storage, wal: walNaming('manifests/7/gone.json') }, REGION)).toBe(0);
    expect(await names()).toEqual(before);
  });
});

describe('retireObjects', () => {
  it("deletes every object of the region and nothing of another's", async () => {
    const s1 = await put('snapshots/7/1-10.rsst');
    await put('deltas/7/1-10-20.rsst');
    await manifestAt(10, s1);
    const others = [await put('snapshots/8/1-10.rsst'), await put('deltas/8/1-10-20.rsst')];

    await retireObjects(storage, REGION);
    expect(await names()).toEqual(others.sort());
  });
});

import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { RegionId } from '@regionstore/core';
import { mvccGet } from '@regionstore/engine';
import { latestManifest } from '@regionstore/region-files';
import { ALL, EPOCH, b, failure, freshRegion, put, useCluster, type TestNode, until } from './helpers';

const cluster = useCluster('incremental-flush');
const MOVED = { version: 1, confVer: 2 };
const random = (bytes: number) => randomBytes(bytes / 2).toString('hex');

async function manifest(region: RegionId) {
  const found = await latestManifest(cluster.storage, region);
  if (!found) throw new Error(`region ${region.toString()} has no manifest`);
  return found;
}

/** Names of the objects under `prefix` (`deltas/<region>/`, `snapshots/<region>/`). */
async function objects(prefix: string): Promise<string[]> {
  const names: string[] = [];
  for await (const object of cluster.storage.list(prefix)) names.push(object.name);
  return names.sort();
}

const manifestFilesOf = (m: Awaited<ReturnType<typeof manifest>>) => [
  ...(m.snapshot ? [m.snapshot] : []),
  ...m.deltas.map((d) => d.name),
];

async function writeAndFlush(node: TestNode, region: RegionId, mutations: Parameters<typeof put>[]) {
  await node.group.write({ regionId: region, mutations: mutations.map(([k, v]) => put(k, v)) });
  await node.group.ddl(region, { type: 'flush' });
}

describe('incremental flush', () => {
  it('writes only the entries since the last flush as a delta; an open elsewhere reads snapshot, deltas and WAL tail', async () => {
    const a = await cluster.node();
    const region = freshRegion();
    await a.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    const base = Array.from({ length: 50 }, (_, i): [string, string] => [`k${i}`, random(400)]);
    await writeAndFlush(a, region, base);
    const first = await manifest(region);
    expect(first.snapshot).not.toBeNull();
    expect(first.deltas).toEqual([]);

    // An overwrite, a delete and a new key, in two flushes.
    await a.group.write({
      regionId: region,
      mutations: [put('k0', 'v2'), { op: 'delete', key: b('k1') }, put('n1', 'new')],
    });
    await a.group.ddl(region, { type: 'flush' });
    await writeAndFlush(a, region, [['n2', 'newer']]);
    const third = await manifest(region);
    expect(third.snapshot).toBe(first.snapshot); // the region was not written again
    expect(third.deltas.map((d) => [d.fromEntryId, d.toEntryId, d.kvCount])).toEqual([
      [1, 2, 3],
      [2, 3, 1],
    ]);
    expect(third.deltas[0]!.size).toBeLessThan(first.size / 10);
    expect(third.walEntryId).toBe(3);
    expect(await cluster.wal().then((wal) => wal.trimmedEntryId(region))).toBe(3);
    expect(await objects(`deltas/${region.value}/`)).toEqual(third.deltas.map((d) => d.name).sort());

    await a.group.write({ regionId: region, mutations: [put('tail', 'in the WAL only')] });
    await a.group.ddl(region, { type: 'close' });
    const other = await cluster.node();
    await other.group.ddl(region, { type: 'open', range: ALL, epoch: MOVED, role: 'Leader' });
    const read = async (key: string) => (await mvccGet(other.engine, b(key)))?.toString();
    expect(await read('k0')).toBe('v2');
    expect(await read('k1')).toBeUndefined();
    expect(await read('n1')).toBe('new');
    expect(await read('n2')).toBe('newer');
    expect(await read('tail')).toBe('in the WAL only');
    for (const [key, value] of base.slice(2)) expect(await read(key)).toBe(value);
    expect(other.group.getRegion(region)!.lastEntryId).toBe(4);
  });

  it('writes a full snapshot once the deltas reach maxDeltaFiles, and deletes the files no manifest names', async () => {
    const node = await cluster.node({ config: { maxDeltaFiles: 2 } });
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await writeAndFlush(node, region, [['a', random(2000)]]);
    const first = await manifest(region);
    await writeAndFlush(node, region, [['b', 'x']]);
    await writeAndFlush(node, region, [['c', 'y']]);
    expect((await manifest(region)).deltas).toHaveLength(2);
    await writeAndFlush(node, region, [['d', 'z']]);
    const compacted = await manifest(region);
    expect(compacted.deltas).toEqual([]);
    expect(compacted.snapshot).not.toBe(first.snapshot);
    expect(compacted.kvCount).toBe(4);
    await until(async () => (await objects(`deltas/${region.value}/`)).length === 0, 'the deltas to go');
    await until(
      async () => (await objects(`snapshots/${region.value}/`)).join() === compacted.snapshot,
      'the old snapshot to go',
    );
  });

  it('deletes the files of flushes whose manifest never counted, and nothing a flush may still commit', async () => {
    const node = await cluster.node();
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await writeAndFlush(node, region, [['a', 'x']]);
    // What a node killed mid-flush leaves: a snapshot and a delta no manifest names, at entry 1.
    const id = region.value;
    const left = [`snapshots/${id}/1-1-1-0badf00d.rsst`, `deltas/${id}/1-0-1.rsst`];
    // Not theirs to delete: a split child's copy of its parent's file, and files at an entry no
    // manifest covers yet (a flush still running).
    const stay = [
      `snapshots/${id}/from-7-1-1.rsst`,
      `snapshots/${id}/1-9-1-0badf00d.rsst`,
      `deltas/${id}/1-3-9.rsst`,
    ];
    for (const name of [...left, ...stay])
      await cluster.storage.write(name, Readable.from([Buffer.from('x')]));
    await writeAndFlush(node, region, [['b', 'y']]);
    await writeAndFlush(node, region, [['c', 'z']]);
    await until(async () => !(await objects(`snapshots/${id}/`)).includes(left[0]!), 'the orphans to go');
    const named = manifestFilesOf(await manifest(region));
    expect((await objects(`snapshots/${id}/`)).concat(await objects(`deltas/${id}/`)).sort()).toEqual(
      [...named, ...stay].sort(),
    );
  });

  it('writes a full snapshot once the deltas hold deltaCompactionRatio times the snapshot', async () => {
    const node = await cluster.node({ config: { deltaCompactionRatio: 0.5 } });
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await writeAndFlush(node, region, [['a', random(1000)]]);
    await writeAndFlush(node, region, [['b', random(200)]]);
    expect((await manifest(region)).deltas).toHaveLength(1); // 200 bytes, under half of 1000
    await writeAndFlush(node, region, [['c', random(600)]]);
    expect((await manifest(region)).deltas).toHaveLength(2);
    await writeAndFlush(node, region, [['d', 'x']]); // the deltas now hold more than half
    expect((await manifest(region)).deltas).toEqual([]);
  });

  it('writes a full snapshot when asked (what a snapshot job asks for)', async () => {
    const node = await cluster.node();
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await writeAndFlush(node, region, [['a', 'x']]);
    await writeAndFlush(node, region, [['b', 'y']]);
    expect((await manifest(region)).deltas).toHaveLength(1);
    await node.group.ddl(region, { type: 'flush', full: true });
    const full = await manifest(region);
    expect(full.deltas).toEqual([]);
    expect(full.kvCount).toBe(2);
  });

  it('refuses to open from a damaged delta file, and writes nothing of it', async () => {
    const a = await cluster.node();
    const region = freshRegion();
    await a.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await writeAndFlush(a, region, [['a', random(1000)]]);
    await writeAndFlush(a, region, [['b', random(1000)]]);
    await a.group.ddl(region, { type: 'close' });
    const delta = (await manifest(region)).deltas[0]!;
    const chunks: Buffer[] = [];
    for await (const chunk of await cluster.storage.read(delta.name)) chunks.push(chunk as Buffer);
    const damaged = Buffer.concat(chunks);
    damaged[Math.floor(damaged.length / 2)]! ^= 0xff;
    await cluster.storage.write(delta.name, Readable.from([damaged]));

    const other = await cluster.node();
    const err = await failure(
      other.group.ddl(region, { type: 'open', range: ALL, epoch: MOVED, role: 'Leader' }),
    );
    expect((err as { code?: string }).code).toMatch(/ChecksumMismatch|CorruptFile/);
    expect(err.message).toContain(delta.name);
    expect(other.group.getRegion(region)).toBeUndefined();
    expect(await mvccGet(other.engine, b('b'))).toBeUndefined();
  });

  it('refuses to open from a snapshot whose file is not the one its manifest recorded', async () => {
    const a = await cluster.node();
    const region = freshRegion();
    await a.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await a.group.write({ regionId: region, mutations: [put('a', 'x')] });
    await a.group.ddl(region, { type: 'flush', full: true });
    const older: Buffer[] = [];
    for await (const chunk of await cluster.storage.read((await manifest(region)).snapshot!))
      older.push(chunk as Buffer);
    await a.group.write({ regionId: region, mutations: [put('b', 'y')] });
    await a.group.ddl(region, { type: 'flush', full: true });
    await a.group.ddl(region, { type: 'close' });
    // A sound file of the same region under the name, with other bytes (an older flush's): loading it
    // would serve `b` as missing. The footer's own checks pass; the manifest's sha256 does not.
    const named = (await manifest(region)).snapshot!;
    await cluster.storage.write(named, Readable.from([Buffer.concat(older)]));

    const other = await cluster.node();
    const err = await failure(
      other.group.ddl(region, { type: 'open', range: ALL, epoch: MOVED, role: 'Leader' }),
    );
    expect(err).toMatchObject({ code: 'ChecksumMismatch' });
    expect(err.message).toContain(named);
    expect(other.group.getRegion(region)).toBeUndefined();
  });
});

import { randomBytes } from 'node:crypto';
import {
  ManualTimeProvider,
  clearFailPoints,
  configureFailPoint,
  failPointHits,
  removeFailPoint,
  settle,
  type RegionId,
} from '@regionstore/core';
import { mvccGet } from '@regionstore/engine';
import { StalledRequests, type StalledWrite } from '@regionstore/worker-group';
import { Reply } from '@regionstore/worker-group';
import { latestManifest, listManifests } from '@regionstore/region-files';
import { ALL, EPOCH, b, freshRegion, put, useCluster, until } from './helpers';

const cluster = useCluster('write-buffer');
afterEach(() => clearFailPoints());

const value = (bytes: number) => 'x'.repeat(bytes);

/** The manifests flushes wrote (not the one every region gets at creation, at entry 0). */
const flushManifests = async (region: RegionId) =>
  (await listManifests(cluster.storage, region)).filter((name) => !/\/0{20}-/.test(name));

describe('StalledRequests', () => {
  it('keeps stalled writes per region with their estimated size', () => {
    const stalled = new StalledRequests();
    const one = freshRegion();
    const two = freshRegion();
    const write = (regionId: typeof one, bytes: number): StalledWrite => ({
      kind: 'write',
      request: { regionId, mutations: [put('k', value(bytes - 1))] },
      reply: new Reply(),
    });
    stalled.append([write(one, 10), write(two, 20)]);
    stalled.push(write(one, 5));
    expect(stalled.estimatedSize).toBe(35);
    expect(stalled.stalledCount()).toBe(3);
    expect(stalled.remove(one)).toHaveLength(2);
    expect(stalled.estimatedSize).toBe(20);
    expect(stalled.remove(one)).toEqual([]);
    expect(stalled.takeAll()).toHaveLength(1);
    expect(stalled.estimatedSize).toBe(0);
    expect(stalled.stalledCount()).toBe(0);
  });
});

describe('write buffer', () => {
  it('stalls writes past the buffer size, flushes the largest region, and resumes them when it ends', async () => {
    // One worker owns both regions, so its largest one is the one it flushes.
    const node = await cluster.node({
      config: { numWorkers: 1, globalWriteBufferSize: 1000, globalWriteBufferRejectSize: 100_000 },
    });
    const big = freshRegion();
    const small = freshRegion();
    for (const region of [big, small])
      await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await node.group.write({ regionId: small, mutations: [put('s', value(100))] });
    await node.group.write({ regionId: big, mutations: [put('b', value(1200))] });
    expect(node.group.writeBuffer.memoryUsage).toBeGreaterThan(1000);

    configureFailPoint('before_region_gen_snap', 'pause'); // hold the flush
    let done = false;
    const stalled = node.group.write({ regionId: small, mutations: [put('s2', value(10))] }).then((r) => {
      done = true;
      return r;
    });
    await until(() => failPointHits('before_region_gen_snap') >= 1, 'the flush to start');
    await settle();
    expect(done).toBe(false);
    expect(node.group.worker(small).stalled.stalledCount()).toBe(1);
    expect(node.group.getRegion(big)!.flushing).toBe(true); // the largest region is the one flushed
    expect(node.group.getRegion(small)!.flushing).toBe(false);

    removeFailPoint('before_region_gen_snap');
    const result = await stalled;
    expect(result.entryId).toBe(2);
    expect((await mvccGet(node.engine, b('s2')))?.toString()).toBe(value(10));
    expect(node.group.getRegion(big)!.writtenBytes).toBe(0);
    expect(await flushManifests(big)).toHaveLength(1);
  });

  it('resumes a stalled write even when only another worker holds data to flush', async () => {
    const node = await cluster.node({ config: { numWorkers: 2, globalWriteBufferSize: 1000 } });
    const big = freshRegion();
    let empty = freshRegion();
    while (node.group.worker(empty) === node.group.worker(big)) empty = freshRegion();
    for (const region of [big, empty])
      await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await node.group.write({ regionId: big, mutations: [put('b', value(1500))] });
    const result = await node.group.write({ regionId: empty, mutations: [put('e', '1')] });
    expect(result.entryId).toBe(1);
    expect(await flushManifests(big)).toHaveLength(1);
    expect(await flushManifests(empty)).toHaveLength(0);
  });

  it('rejects writes with WriteBufferFull past the reject size', async () => {
    const node = await cluster.node({
      config: { globalWriteBufferSize: 100, globalWriteBufferRejectSize: 200 },
    });
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    configureFailPoint('before_region_gen_snap', 'pause'); // no flush frees anything meanwhile
    await node.group.write({ regionId: region, mutations: [put('a', value(300))] });
    await expect(node.group.write({ regionId: region, mutations: [put('b', '1')] })).rejects.toMatchObject({
      code: 'WriteBufferFull',
    });
    expect(await mvccGet(node.engine, b('b'))).toBeUndefined();
  });

  it('answers stalled writes of a region with ServerIsBusy (retry: nothing was written) when its flush fails', async () => {
    const node = await cluster.node({
      config: { globalWriteBufferSize: 100, globalWriteBufferRejectSize: 100_000 },
    });
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    configureFailPoint('before_region_gen_snap', 'return'); // generations are dropped: flushes fail
    await node.group.write({ regionId: region, mutations: [put('a', value(300))] });
    const stalled = node.group.write({ regionId: region, mutations: [put('b', '1')] });
    await expect(stalled).rejects.toMatchObject({
      code: 'ServerIsBusy',
      message: expect.stringMatching(
        /could not flush to make room for this write \(.*cancelled\); try again/,
      ),
    });
    await expect(node.group.ddl(region, { type: 'flush' })).rejects.toMatchObject({ code: 'Cancelled' });
  });

  it('flushes idle regions with unflushed writes on the periodic check (manual clock)', async () => {
    const time = new ManualTimeProvider(1_000_000);
    const node = await cluster.node({
      time,
      config: { checkRegionIntervalMs: 1000, maxInitialCheckDelayMs: 0, autoFlushIntervalMs: 5000 },
    });
    const region = freshRegion();
    const quiet = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await node.group.ddl(quiet, { type: 'create', range: ALL, epoch: EPOCH });
    await node.group.write({ regionId: region, mutations: [put('p', '1')] });
    await time.advance(3000);
    await settle();
    expect(await flushManifests(region)).toHaveLength(0);
    await time.advance(3000);
    await until(async () => (await flushManifests(region)).length === 1, 'the periodic flush');
    await until(() => node.group.getRegion(region)!.writtenBytes === 0, 'the flush to be accounted');
    // Nothing to flush there: no snapshot (the manifest of a flush at entry 0 would replace the
    // creation's, so the manifests alone cannot tell).
    const snapshots = [];
    for await (const object of cluster.storage.list(`snapshots/${quiet.value}/`)) snapshots.push(object.name);
    expect(snapshots).toEqual([]);
    expect((await latestManifest(cluster.storage, quiet))?.snapshot ?? null).toBeNull();
  });

  it('flushes a region each time its unflushed WAL passes regionWriteBufferSize, whatever its size', async () => {
    const node = await cluster.node({ config: { regionWriteBufferSize: 500 } });
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await node.group.write({ regionId: region, mutations: [put('a', value(300))] });
    await settle();
    expect(node.group.getRegion(region)!.flushedEntryId).toBe(0); // under the threshold
    // Random values: snapshots are compressed, and the sizes compared here must be real.
    const many = Array.from({ length: 20 }, (_, i) => put(`m${i}`, randomBytes(100).toString('hex')));
    await node.group.write({ regionId: region, mutations: many });
    await until(() => node.group.getRegion(region)!.flushedEntryId === 2, 'the size-triggered flush');
    expect(node.group.getRegion(region)!.snapshotBytes).toBeGreaterThan(1000);
    expect(node.group.getRegion(region)!.writtenBytes).toBe(0);
    // Past the threshold though far under the region's size: flushed (a delta, not the region again).
    await node.group.write({ regionId: region, mutations: [put('b', randomBytes(300).toString('hex'))] });
    await until(() => node.group.getRegion(region)!.flushedEntryId === 3, 'the second flush');
    expect(await cluster.wal().then((wal) => wal.trimmedEntryId(region))).toBe(3);
  });

  it('counts the WAL an open replays as unflushed, so a region bounced between nodes still flushes', async () => {
    const first = await cluster.node();
    const region = freshRegion();
    await first.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await first.group.write({ regionId: region, mutations: [put('a', value(400))] });
    await first.group.write({ regionId: region, mutations: [put('b', value(400))] });
    await first.group.ddl(region, { type: 'close' });
    const second = await cluster.node({ config: { regionWriteBufferSize: 1000 } });
    const moved = { version: 1, confVer: 2 };
    await second.group.ddl(region, { type: 'open', range: ALL, epoch: moved, role: 'Leader' });
    const opened = second.group.getRegion(region)!;
    expect(opened.writtenBytes).toBeGreaterThan(800);
    expect(second.group.writeBuffer.memoryUsage).toBe(opened.writtenBytes);
    await second.group.write({ regionId: region, mutations: [put('c', value(200))] });
    await until(() => second.group.getRegion(region)!.flushedEntryId === 3, 'the flush');
  });
});

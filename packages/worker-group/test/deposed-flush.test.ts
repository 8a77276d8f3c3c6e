import { configureFailPoint, failPointHits, removeFailPoint, type RegionId } from '@regionstore/core';
import { mvccGet } from '@regionstore/engine';
import { RedisLogStore } from '@regionstore/log-store';
import { createMetricsRegistry } from '@regionstore/runtime';
import { latestManifest, listManifests, manifestFiles, writeManifest } from '@regionstore/region-files';
import {
  ALL,
  EPOCH,
  b,
  failure,
  freshRegion,
  objectNames,
  put,
  useCluster,
  type TestNode,
  until,
} from './helpers';

const cluster = useCluster('deposed-flush');

/** Starts a flush on `node` and returns it once it is paused at its manifest write. */
async function pauseAtManifestWrite(node: TestNode, region: RegionId, full: boolean) {
  const hits = failPointHits('region_flush_manifest_write');
  configureFailPoint('region_flush_manifest_write', '1*pause');
  const flush = node.group.ddl(region, { type: 'flush', full });
  while (failPointHits('region_flush_manifest_write') === hits) await new Promise((r) => setTimeout(r, 5));
  return { flush };
}

describe('a flush that outlives its leadership', () => {
  it('deletes nothing the new leader builds on: every acknowledged write survives the next failover', async () => {
    const a = await cluster.node();
    const region = freshRegion();
    await a.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await a.group.write({ regionId: region, mutations: [put('a', '1')] });
    await a.group.ddl(region, { type: 'flush', full: true });
    await a.group.write({ regionId: region, mutations: [put('b', '2')] });
    await a.group.ddl(region, { type: 'flush', full: false });
    // A full flush at the same entry: past its last leadership check, then stopped (a long pause).
    const { flush: late } = await pauseAtManifestWrite(a, region, true);

    const b2 = await cluster.leaderAt(region, 2);
    await b2.group.write({ regionId: region, mutations: [put('c', '3')] });
    await b2.group.ddl(region, { type: 'flush', full: false });

    removeFailPoint('region_flush_manifest_write');
    expect(await failure(late)).toMatchObject({ code: 'NotLeader' });
    await a.group.ddl(region, { type: 'close' }).catch(() => undefined);
    // Let the deposed node's background deletions run.
    await new Promise((r) => setTimeout(r, 300));

    const files = [
      ...(await objectNames(cluster.storage, 'snapshots/')),
      ...(await objectNames(cluster.storage, 'deltas/')),
    ];
    const newest = (await latestManifest(cluster.storage, region))!;
    expect(newest.nodeId).toBe(b2.nodeId);
    for (const name of manifestFiles(newest)) expect(files).toContain(name);

    await b2.crash();
    const c = await cluster.leaderAt(region, 3);
    for (const [key, value] of [
      ['a', '1'],
      ['b', '2'],
      ['c', '3'],
    ] as const)
      expect((await mvccGet(c.engine, b(key)))?.toString()).toBe(value);
  });
});

describe('manifests and their files are never rewritten in place', () => {
  it('a full flush with nothing new since the last one writes no snapshot again, and keeps one manifest', async () => {
    const metrics = createMetricsRegistry({ defaultMetrics: false });
    const node = await cluster.node({ metrics });
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await node.group.write({ regionId: region, mutations: [put('a', '1')] });
    await node.group.ddl(region, { type: 'flush', full: true });
    const snapshotBytes = async () =>
      (
        await metrics.getSingleMetric('regionstore_worker_group_flush_written_bytes_total')!.get()
      ).values.find((v) => v.labels.kind === 'snapshot')?.value ?? 0;
    const written = await snapshotBytes();
    expect(written).toBeGreaterThan(0);
    const first = (await latestManifest(cluster.storage, region))!;

    await node.group.ddl(region, { type: 'flush', full: true });
    expect(await snapshotBytes()).toBe(written);
    const second = (await latestManifest(cluster.storage, region))!;
    expect(second.snapshot).toBe(first.snapshot);
    expect(second.sha256).toBe(first.sha256);
    // The purge after the commit leaves the committed manifest alone.
    await until(async () => (await listManifests(cluster.storage, region)).length === 1, 'the purge');
    const committed = await node.group.committedManifest(region);
    expect(committed).toEqual(second);
  });

  it('the purge deletes only what is listed before the committed manifest', async () => {
    const node = await cluster.node();
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await node.group.write({ regionId: region, mutations: [put('a', '1')] });
    await node.group.ddl(region, { type: 'flush', full: true });
    await until(async () => (await listManifests(cluster.storage, region)).length === 1, 'the purge');
    // A manifest written but not (yet) committed, listed after the committed one: a flush in flight.
    const pending = (await latestManifest(cluster.storage, region))!;
    const inFlight = await writeManifest(cluster.storage, { ...pending, walEntryId: pending.walEntryId + 5 });
    await node.group.write({ regionId: region, mutations: [put('b', '2')] });
    await node.group.ddl(region, { type: 'flush', full: false });
    const names = await listManifests(cluster.storage, region);
    await until(async () => (await listManifests(cluster.storage, region)).length <= 2, 'the purge');
    expect(await listManifests(cluster.storage, region)).toContain(inFlight);
    expect(names.at(-1)).toBe(inFlight);
    // What an open loads is still there, files and all.
    const committed = (await node.group.committedManifest(region))!;
    expect(committed.deltas).toHaveLength(1);
    await node.crash();
    const other = await cluster.leaderAt(region, 2);
    expect((await mvccGet(other.engine, b('b')))?.toString()).toBe('2');
  });
});

describe('the committed manifest', () => {
  it('is named from creation on, so no open ever goes by a manifest that never counted', async () => {
    const wal = await cluster.wal();
    const node = await cluster.node();
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    const created = await wal.committedManifest(region);
    expect(created).toBeDefined();
    expect(await listManifests(cluster.storage, region)).toEqual([created]);
    await wal.close();
  });

  it('when Redis lost the commit that named the newest one (and the purge deleted the one it names), opens load the newest and flushes go on', async () => {
    const wal = await cluster.wal();
    const a = await cluster.node();
    const region = freshRegion();
    await a.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await a.group.write({ regionId: region, mutations: [put('a', '1')] });
    await a.group.ddl(region, { type: 'flush', full: true });
    const older = (await wal.committedManifest(region))!;
    await a.group.write({ regionId: region, mutations: [put('b', '2')] });
    await a.group.ddl(region, { type: 'flush', full: true });
    await until(async () => !(await listManifests(cluster.storage, region)).includes(older), 'the purge');
    // The primary failed before its replica had the last commit: the WAL names the purged manifest.
    const redis = await cluster.ns.connect('client');
    await redis.hset(wal.keys(region).meta, 'manifest', older);
    await a.crash();

    const other = await cluster.leaderAt(region, 2);
    expect((await mvccGet(other.engine, b('b')))?.toString()).toBe('2');
    await other.group.write({ regionId: region, mutations: [put('c', '3')] });
    await other.group.ddl(region, { type: 'flush', full: false });
    expect(await wal.committedManifest(region)).not.toBe(older);
    await wal.close();
  });
});

describe('a flush whose commit failed', () => {
  it('leaves no manifest listed that never counted, even when the WAL could not say at first', async () => {
    let failCommits = false;
    let unreadable = 0;
    class FlakyWal extends RedisLogStore {
      override async commitFlush(...args: Parameters<RedisLogStore['commitFlush']>) {
        if (!failCommits) return super.commitFlush(...args);
        unreadable = 1; // the first look after the failed commit cannot tell; the next one can
        throw new Error('Connection is closed.');
      }
      override async committedManifest(regionId: RegionId) {
        if (unreadable > 0) {
          unreadable--;
          throw new Error('Connection is closed.');
        }
        return super.committedManifest(regionId);
      }
    }
    const node = await cluster.node({ walClass: FlakyWal });
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await node.group.write({ regionId: region, mutations: [put('a', '1')] });
    await node.group.ddl(region, { type: 'flush', full: true });
    await until(async () => (await listManifests(cluster.storage, region)).length === 1, 'the purge');
    const before = await listManifests(cluster.storage, region);
    await node.group.write({ regionId: region, mutations: [put('b', '2')] });
    failCommits = true;
    await failure(node.group.ddl(region, { type: 'flush', full: true }));
    expect(await listManifests(cluster.storage, region)).toEqual(before);
    failCommits = false;
  });
});

import { isRegionStoreError, type RegionId } from '@regionstore/core';
import { mvccGet } from '@regionstore/engine';
import { createMetricsRegistry } from '@regionstore/runtime';
import { latestManifest } from '@regionstore/region-files';
import type { RedisLogStore } from '@regionstore/log-store';
import { ALL, EPOCH, b, failure, freshRegion, put, until, useCluster } from './helpers';

const cluster = useCluster('wal-regression');

/** What a Redis that lost its data holds of the region: nothing. */
async function loseWal(wal: RedisLogStore, region: RegionId): Promise<void> {
  const redis = await cluster.ns.connect('client');
  await redis.del(...Object.values(wal.keys(region)));
}

/** What a Redis restored from an older AOF leaves: the WAL's last `keep` entries are the only ones. */
async function rewindWal(region: ReturnType<typeof freshRegion>, keep: number): Promise<void> {
  const wal = await cluster.wal();
  const redis = await cluster.ns.connect('client');
  const { log, meta } = wal.keys(region);
  await redis.xtrim(log, 'MAXLEN', keep);
  await redis.hset(meta, 'last', keep);
  await redis.hdel(meta, 'batch', 'batchLast');
}

const regressions = async (metrics: ReturnType<typeof createMetricsRegistry>) =>
  (await metrics.getSingleMetric('regionstore_worker_group_wal_regressions_total')?.get())?.values.reduce(
    (sum, v) => sum + v.value,
    0,
  ) ?? 0;

/** A node leading a new region with entries 1..3 (keys a, b, c) in its WAL. */
async function threeWrites() {
  const metrics = createMetricsRegistry({ defaultMetrics: false });
  const node = await cluster.node({ metrics });
  const region = freshRegion();
  await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
  for (const key of ['a', 'b', 'c']) await node.group.write({ regionId: region, mutations: [put(key, key)] });
  return { metrics, node, region };
}

describe('a WAL that went back in time', () => {
  it('is reported, not served, when it ends before what this node applied', async () => {
    const { metrics, node, region } = await threeWrites();
    await node.group.ddl(region, { type: 'close' });
    await rewindWal(region, 1);

    const err = await failure(
      node.group.ddl(region, { type: 'open', range: ALL, epoch: EPOCH, role: 'Leader' }),
    );
    expect(isRegionStoreError(err, 'WalRegression')).toBe(true);
    expect(err.message).toMatch(/WAL ends at entry 1, before entry 3 that this node applied/);
    expect(node.group.isRegionExists(region)).toBe(false);
    expect(await regressions(metrics)).toBe(1);
    // Nothing was changed: once the WAL is whole again (say, the right Redis is back) it opens.
    const wal = await cluster.wal();
    const redis = await cluster.ns.connect('client');
    await redis.hset(wal.keys(region).meta, 'last', 3);
    await expect(
      node.group.ddl(region, { type: 'open', range: ALL, epoch: EPOCH, role: 'Leader' }),
    ).resolves.toEqual({ lastEntryId: 3 });
  });

  it('under a running leader: its next write is not acknowledged, and the region closes and stays closed', async () => {
    const { metrics, node, region } = await threeWrites();
    // Redis restarted from an AOF that ends at entry 1: the next append takes id 2 again.
    const wal = await cluster.wal();
    const redis = await cluster.ns.connect('client');
    const { log, meta } = wal.keys(region);
    await redis.xdel(log, '2-0', '3-0');
    await redis.xsetid(log, '1-0');
    await redis.hset(meta, 'last', 1);
    await redis.hdel(meta, 'batch', 'batchLast');
    const err = await failure(node.group.write({ regionId: region, mutations: [put('d', 'd')] }));
    expect(isRegionStoreError(err, 'WalRegression')).toBe(true);
    expect(err.message).toMatch(/WAL ends at entry 1, before entry 3 that this node applied/);
    expect(await regressions(metrics)).toBe(1);
    await until(() => !node.group.isRegionExists(region), 'the region to close');
    expect(
      isRegionStoreError(
        await failure(node.group.ddl(region, { type: 'open', range: ALL, epoch: EPOCH, role: 'Leader' })),
        'WalRegression',
      ),
    ).toBe(true);
  });

  it('is reported, not served, when it ends before the entry the latest flush covers', async () => {
    const first = await cluster.node();
    const region = freshRegion();
    await first.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    for (const key of ['a', 'b']) await first.group.write({ regionId: region, mutations: [put(key, key)] });
    await first.group.ddl(region, { type: 'flush' });
    expect((await latestManifest(cluster.storage, region))?.walEntryId).toBe(2);
    await first.crash();
    // A Redis that lost everything of the region: the WAL is new and empty.
    const wal = await cluster.wal();
    await loseWal(wal, region);

    const second = await cluster.node();
    const epoch = { version: 1, confVer: 2 };
    const err = await failure(second.group.ddl(region, { type: 'open', range: ALL, epoch, role: 'Leader' }));
    expect(isRegionStoreError(err, 'WalRegression')).toBe(true);
    expect(err.message).toMatch(/WAL ends at entry 0, before entry 2 that its latest flush covers/);
    expect(second.group.isRegionExists(region)).toBe(false);
  });

  it('once restored (a new incarnation), opens from the latest flush, never from a copy applied from the lost WAL', async () => {
    const node = await cluster.node();
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await node.group.write({ regionId: region, mutations: [put('flushed', '1')] });
    await node.group.ddl(region, { type: 'flush' });
    await node.group.write({ regionId: region, mutations: [put('lost', '2')] });
    await node.group.ddl(region, { type: 'close' });
    const wal = await cluster.wal();
    await loseWal(wal, region);
    expect(await wal.restore(region, 1)).toBe(1); // what a cluster recovery does

    const epoch = { version: 1, confVer: 2 };
    const opened = await node.group.ddl(region, { type: 'open', range: ALL, epoch, role: 'Leader' });
    expect(opened.lastEntryId).toBe(1);
    expect((await mvccGet(node.engine, b('flushed')))?.toString()).toBe('1');
    expect(await mvccGet(node.engine, b('lost'))).toBeUndefined();
    const next = await node.group.write({ regionId: region, mutations: [put('after', '3')] });
    expect(next.entryId).toBe(2);
  });

  it('a restore keeps a WAL that still reaches the flushed entry, under a new incarnation', async () => {
    const wal = await cluster.wal();
    const region = freshRegion();
    await wal.setFence(region, { nodeId: 'n1', epoch: 1 });
    await wal.append(region, [b('x'), b('y'), b('z')], { nodeId: 'n1', epoch: 1 });
    const before = await wal.position(region);
    expect(before.incarnation).toBeDefined();
    expect(await wal.restore(region, 2)).toBe(3);
    const after = await wal.position(region);
    expect(after).toMatchObject({ lastEntryId: 3, trimmedEntryId: 0 });
    expect(after.incarnation).not.toBe(before.incarnation);
  });
});

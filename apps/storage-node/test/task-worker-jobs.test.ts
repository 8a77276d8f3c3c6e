import { join } from 'node:path';
import { BackupEndpoint, StaticRegionInfoProvider } from '@regionstore/backup';
import { RegionId, keyRange } from '@regionstore/core';
import { createMetricsRegistry, silentLogger } from '@regionstore/runtime';
import { RocksEngine, mvccGet } from '@regionstore/engine';
import { RedisLogStore } from '@regionstore/log-store';
import { decodeJobResult, encodeJobPayload, type JobName, type JobPayload } from '@regionstore/protocol';
import { RegionRunner } from '@regionstore/region-runner';
import { LocalStorage } from '@regionstore/storage-backends';
import { useRedisNamespace, useTempDir } from '@regionstore/testing';
import { WorkerGroup } from '@regionstore/worker-group';
import { Queue, QueueEvents } from 'bullmq';
import { NodeTaskWorker } from '../src/task-worker';

const stops: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
});
const dir = useTempDir('task-worker-jobs');
const ns = useRedisNamespace('task-worker-jobs');

const REGION = new RegionId(7, 1);
const RANGE = keyRange(Buffer.from('a'), Buffer.from('n'));
const EPOCH = { version: 1, confVer: 1 };
const b = (s: string) => Buffer.from(s);

/** A storage node's job side: its own RocksDB, runner, worker group and task worker on `node-<id>`. */
async function node(id: string, storage: LocalStorage) {
  const engine = await RocksEngine.open({ path: join(dir.path, id) });
  const runner = new RegionRunner({ engine, storage });
  const wal = new RedisLogStore(await ns.connect(), { prefix: ns.prefix });
  const group = WorkerGroup.start({
    nodeId: id,
    engine,
    wal,
    storage,
    runner,
  });
  const metrics = createMetricsRegistry({ defaultMetrics: false });
  const worker = new NodeTaskWorker(`node-${id}`, ns.prefix, ns.url, {
    allowedStorage: [],
    metrics,
    nodeId: id,
    engine,
    snapshotStorage: storage,
    group,
    runner,
    backup: new BackupEndpoint({
      storeId: id,
      engine,
      regionInfo: new StaticRegionInfoProvider(),
      concurrency: group.concurrency,
    }),
    logger: silentLogger(),
  });
  const queue = new Queue(`node-${id}`, { connection: await ns.connect('worker'), prefix: ns.prefix });
  const events = new QueueEvents(`node-${id}`, { connection: await ns.connect('worker'), prefix: ns.prefix });
  await events.waitUntilReady();
  stops.push(async () => {
    await worker.close(2000);
    await events.close();
    await queue.close();
    await group.stop();
    await wal.close();
    await runner.stop();
    await engine.close();
  });
  return {
    engine,
    group,
    /** Tasks answered so far, by job and outcome, as the duration histogram counts them. */
    async answered(): Promise<Record<string, number>> {
      const counts: Record<string, number> = {};
      const metric = (await metrics.getMetricsAsJSON()).find(
        (m) => m.name === 'regionstore_storage_node_task_duration_seconds',
      );
      for (const value of (metric?.values ?? []) as Array<{
        metricName?: string;
        value: number;
        labels: Record<string, string | number>;
      }>)
        if (value.metricName?.endsWith('_count') && value.value > 0)
          counts[`${value.labels['job']} ${value.labels['outcome']}`] = value.value;
      return counts;
    },
    async run<N extends JobName>(name: N, payload: JobPayload<N>) {
      const job = await queue.add(name, encodeJobPayload(name, payload));
      return decodeJobResult(name, await job.waitUntilFinished(events, 20_000));
    },
    async failure<N extends JobName>(name: N, payload: JobPayload<N>): Promise<string> {
      const job = await queue.add(name, encodeJobPayload(name, payload));
      return job.waitUntilFinished(events, 20_000).then(
        () => 'completed',
        (err: Error) => err.message,
      );
    },
  };
}

describe('node task worker: snapshot, catch-up and destroy jobs', () => {
  it('generates a snapshot on one node, applies it on another, catches it up and destroys it', async () => {
    const storage = new LocalStorage(join(dir.path, 'objects'));
    const a = await node('a', storage);
    const bNode = await node('b', storage);
    await a.run('create-region', { regionId: REGION, range: RANGE, epoch: EPOCH });
    for (let i = 0; i < 20; i++) {
      await a.group.write({
        regionId: REGION,
        mutations: [{ op: 'put', key: b(`k${i}`), value: b(`v${i}`) }],
      });
    }

    const snapshot = await a.run('generate-snapshot', { regionId: REGION });
    expect(snapshot).toMatchObject({ index: 20, kvCount: 20 });
    expect(await storage.exists(snapshot.name)).toBe(true);

    // an open region's data is not replaced under it
    const applying = {
      regionId: REGION,
      range: RANGE,
      epoch: EPOCH,
      name: snapshot.name,
      term: snapshot.term,
      index: snapshot.index,
    };
    expect(JSON.parse(await a.failure('apply-snapshot', applying))).toMatchObject({
      code: 'InvalidArgument',
    });

    // a file under the name with other bytes than generated is refused, and nothing is applied
    expect(
      JSON.parse(await bNode.failure('apply-snapshot', { ...applying, sha256: '0'.repeat(64) })),
    ).toMatchObject({ code: 'ChecksumMismatch' });
    expect(await mvccGet(bNode.engine, b('k7'))).toBeUndefined();
    // every answer is timed, by job and outcome
    expect(await bNode.answered()).toEqual({ 'apply-snapshot ChecksumMismatch': 1 });

    expect(await bNode.run('apply-snapshot', { ...applying, sha256: snapshot.sha256 })).toMatchObject({
      status: 'Finished',
    });
    expect((await mvccGet(bNode.engine, b('k7')))?.toString()).toBe('v7');

    // b follows a's WAL: open as a follower, then catch up to the entries a writes next
    await bNode.run('open-region', { regionId: REGION, range: RANGE, epoch: EPOCH, role: 'follower' });
    await a.group.write({ regionId: REGION, mutations: [{ op: 'put', key: b('later'), value: b('x') }] });
    const caught = await bNode.run('catchup-region', { regionId: REGION });
    expect(caught.lastEntryId).toBe(21);
    expect((await mvccGet(bNode.engine, b('later')))?.toString()).toBe('x');

    // destroy refuses a range a region still serves; once closed, the data goes
    expect(
      JSON.parse(await bNode.failure('destroy-range', { regionId: REGION, range: RANGE })),
    ).toMatchObject({ code: 'InvalidArgument' });
    await bNode.run('close-region', { regionId: REGION, destroy: false });
    expect((await mvccGet(bNode.engine, b('k7')))?.toString()).toBe('v7');
    await bNode.run('destroy-range', { regionId: REGION, range: RANGE });
    expect(await mvccGet(bNode.engine, b('k7'))).toBeUndefined();
    expect((await mvccGet(a.engine, b('k7')))?.toString()).toBe('v7');
  });

  it('refuses a downgrade or close asked for an older placement than the copy leading here (stale jobs)', async () => {
    const c = await node('c', new LocalStorage(join(dir.path, 'objects-c')));
    const region = new RegionId(7, 2);
    const here = { version: 1, confVer: 3 };
    await c.run('create-region', { regionId: region, range: RANGE, epoch: here });
    const stale = { version: 1, confVer: 2 };
    expect(JSON.parse(await c.failure('downgrade-region', { regionId: region, epoch: stale }))).toMatchObject(
      {
        code: 'EpochNotMatch',
      },
    );
    expect(
      JSON.parse(await c.failure('close-region', { regionId: region, destroy: true, epoch: stale })),
    ).toMatchObject({ code: 'EpochNotMatch' });
    expect(c.group.getRegion(region)?.role).toBe('Leader');
    await c.run('downgrade-region', { regionId: region, epoch: here });
    expect(c.group.getRegion(region)?.role).toBe('Follower');
  });
});

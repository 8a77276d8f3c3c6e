import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { BackupEndpoint, StaticRegionInfoProvider } from '@regionstore/backup';
import { MAX_TIMESTAMP, RegionId, keyRange } from '@regionstore/core';
import { createMetricsRegistry, silentLogger } from '@regionstore/runtime';
import { RocksEngine, mvccGet } from '@regionstore/engine';
import { RedisLogStore } from '@regionstore/log-store';
import {
  backupRequestSchema,
  decodeJobResult,
  encodeJobPayload,
  type JobName,
  type JobPayload,
} from '@regionstore/protocol';
import { RegionRunner } from '@regionstore/region-runner';
import { LocalStorage } from '@regionstore/storage-backends';
import { useRedisNamespace, useTempDir } from '@regionstore/testing';
import { WorkerGroup } from '@regionstore/worker-group';
import { Queue, QueueEvents } from 'bullmq';
import { NodeTaskWorker, type NodeTaskDeps } from '../src/task-worker';

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

/**
 * A storage node's job side: its own RocksDB, runner, worker group and task worker on `node-<id>` and
 * `node-<id>.bulk`.
 */
async function node(
  id: string,
  storage: LocalStorage,
  options: Pick<NodeTaskDeps, 'concurrency' | 'progressIntervalMs' | 'allowedStorage'> = {
    allowedStorage: [],
  },
) {
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
  const regionInfo = new StaticRegionInfoProvider();
  const worker = new NodeTaskWorker({ tasks: `node-${id}`, bulk: `node-${id}.bulk` }, ns.prefix, ns.url, {
    ...options,
    metrics,
    nodeId: id,
    engine,
    snapshotStorage: storage,
    group,
    runner,
    backup: new BackupEndpoint({ storeId: id, engine, regionInfo, concurrency: group.concurrency }),
    logger: silentLogger(),
  });
  const lane = async (name: string) => {
    const queue = new Queue(name, { connection: await ns.connect('worker'), prefix: ns.prefix });
    const events = new QueueEvents(name, { connection: await ns.connect('worker'), prefix: ns.prefix });
    await events.waitUntilReady();
    return { queue, events };
  };
  const tasks = await lane(`node-${id}`);
  const { queue, events } = tasks;
  const bulk = await lane(`node-${id}.bulk`);
  stops.push(async () => {
    await worker.close(2000);
    for (const { queue, events } of [tasks, bulk]) {
      await events.close();
      await queue.close();
    }
    await group.stop();
    await wal.close();
    await runner.stop();
    await engine.close();
  });
  return {
    engine,
    group,
    regionInfo,
    bulk,
    worker,
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

    // what a restore checks first: a version newer than the backup's ts, on a node the region is open on
    const newer = (ts: bigint) => ({ regionId: REGION, range: RANGE, ts });
    const { found, covered } = await a.run('newer-version', newer(0n));
    expect(found?.key.toString()).toBe('k0');
    expect(covered).toEqual([RANGE]);
    // only the part the region holds is answered for: the rest is asked where it went
    const wider = await a.run('newer-version', { regionId: REGION, range: keyRange(b('0'), b('z')), ts: 0n });
    expect(wider.covered).toEqual([RANGE]);
    expect((await a.run('newer-version', newer(found!.ts))).found?.key.toString()).toBe('k1');
    expect((await a.run('newer-version', newer(MAX_TIMESTAMP))).found).toBeUndefined();
    expect(JSON.parse(await bNode.failure('newer-version', newer(0n)))).toMatchObject({
      code: 'RegionNotFound',
    });

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
    expect(await bNode.answered()).toEqual({
      'newer-version RegionNotFound': 1,
      'apply-snapshot ChecksumMismatch': 1,
    });

    expect(await bNode.run('apply-snapshot', { ...applying, sha256: snapshot.sha256 })).toMatchObject({
      status: 'Finished',
    });
    expect((await mvccGet(bNode.engine, b('k7')))?.toString()).toBe('v7');

    // b follows a's WAL: open as a follower, then catch up to the entries a writes next
    await bNode.run('open-region', { regionId: REGION, range: RANGE, epoch: EPOCH, role: 'follower' });
    // a follower's copy may lag: the check is for the leader
    expect(JSON.parse(await bNode.failure('newer-version', newer(0n)))).toMatchObject({ code: 'NotLeader' });
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

describe('node task worker: backups and restores on the bulk queue', () => {
  it('runs them beside its tasks, however long they take, and reports their progress as they go', async () => {
    const storage = new LocalStorage(join(dir.path, 'objects-bulk'));
    const backupDir = join(dir.path, 'bulk-backup');
    const options = {
      concurrency: { tasks: 1, bulk: 1 },
      progressIntervalMs: 20,
      allowedStorage: [`local://${dir.path}`],
    };
    const a = await node('bulk-a', storage, options);
    const c = await node('bulk-c', storage, options);
    // Regions of their own: the WAL of each lives in the one Redis namespace of this file.
    const [backedUp, restored] = [new RegionId(9, 1), new RegionId(9, 2)];
    await a.run('create-region', { regionId: backedUp, range: RANGE, epoch: EPOCH });
    let commitTs = 0n;
    for (let batch = 0; batch < 10; batch++) {
      const mutations = Array.from({ length: 200 }, (_, i) => ({
        op: 'put' as const,
        key: b(`b${String(batch * 200 + i).padStart(5, '0')}`),
        // Random values do not compress: the rate limit below then paces the whole scan.
        value: randomBytes(100),
      }));
      ({ commitTs } = await a.group.write({ regionId: backedUp, mutations }));
    }
    a.regionInfo.setRegions([{ regionId: backedUp, range: RANGE, epochVersion: 1, role: 'Leader' }]);

    // ~230 KB at 100 KB/s: the backup runs for seconds and holds the one bulk slot all along.
    const request = backupRequestSchema.parse({
      storage: `local://${backupDir}`,
      endVersion: commitTs.toString(),
      rateLimit: 100_000,
      compressionType: 'none',
    });
    const progress = reported(a.bulk.events);
    const backup = await a.bulk.queue.add('backup', encodeJobPayload('backup', { request }));
    await until(() => progress.length > 0);
    // The node's one task slot is free: a task sent meanwhile is answered before the backup ends.
    expect(await a.run('flush-region', { regionId: backedUp })).toMatchObject({ regionId: backedUp });
    expect(await backup.getState()).toBe('active');
    const { responses } = decodeJobResult('backup', await backup.waitUntilFinished(a.bulk.events, 30_000));
    expect(responses.map((r) => r.error)).toEqual([undefined]);
    const files = responses.flatMap((r) => r.files);
    expect(files.reduce((n, f) => n + f.kvCount, 0)).toBe(2000);
    // Reported while it ran, not only at the end.
    expect(progress.length).toBeGreaterThan(1);
    expectGrowingCounts(progress, 2000);

    await c.run('create-region', { regionId: restored, range: RANGE, epoch: EPOCH });
    const restoring = reported(c.bulk.events);
    const restore = await c.bulk.queue.add(
      'restore',
      encodeJobPayload('restore', {
        storage: `local://${backupDir}`,
        files,
        ranges: [RANGE],
        verified: false,
      }),
    );
    expect(decodeJobResult('restore', await restore.waitUntilFinished(c.bulk.events, 30_000))).toEqual({
      files: files.length,
      kvs: 2000,
    });
    expectGrowingCounts(restoring, 2000);

    // A restore's check over a region with nothing newer reads every key, reporting how many as it goes.
    const checking = reported(c.bulk.events);
    const check = await c.bulk.queue.add(
      'newer-version',
      encodeJobPayload('newer-version', { regionId: restored, range: RANGE, ts: MAX_TIMESTAMP }),
    );
    expect(decodeJobResult('newer-version', await check.waitUntilFinished(c.bulk.events, 30_000))).toEqual({
      regionId: restored,
      covered: [RANGE],
    });
    expectGrowingCounts(checking, 2000);
  });

  it('stops a backup still running when the node stops, failing it as ServerIsBusy for the metasrv to send again', async () => {
    const storage = new LocalStorage(join(dir.path, 'objects-stop'));
    const n = await node('bulk-stop', storage, {
      concurrency: { tasks: 1, bulk: 1 },
      progressIntervalMs: 20,
      allowedStorage: [`local://${dir.path}`],
    });
    const region = new RegionId(9, 3);
    await n.run('create-region', { regionId: region, range: RANGE, epoch: EPOCH });
    const mutations = Array.from({ length: 2000 }, (_, i) => ({
      op: 'put' as const,
      key: b(`c${String(i).padStart(5, '0')}`),
      value: randomBytes(100),
    }));
    const { commitTs } = await n.group.write({ regionId: region, mutations });
    n.regionInfo.setRegions([{ regionId: region, range: RANGE, epochVersion: 1, role: 'Leader' }]);
    // ~230 KB at 50 KB/s: seconds of work, which the stop does not wait for.
    const request = backupRequestSchema.parse({
      storage: `local://${join(dir.path, 'stop-backup')}`,
      endVersion: commitTs.toString(),
      rateLimit: 50_000,
      compressionType: 'none',
    });
    const progress = reported(n.bulk.events);
    // Retried as the metasrv's jobs are: a stopped node's failure must still end the job at once.
    const backup = await n.bulk.queue.add('backup', encodeJobPayload('backup', { request }), {
      attempts: 3,
      backoff: { type: 'exponential', delay: 200 },
    });
    await until(() => progress.length > 0);
    // Within the stop's grace: the backup stopped at its next chunk, not at the end of its file.
    await n.worker.close(100);
    const after = await n.bulk.queue.getJob(backup.id!);
    expect(await after!.getState()).toBe('failed');
    expect(JSON.parse(after!.failedReason)).toMatchObject({ code: 'ServerIsBusy' });
  });
});

/** The counts a bulk queue's jobs reported, in order. */
function reported(events: QueueEvents): number[] {
  const counts: number[] = [];
  events.on('progress', ({ data }) => void counts.push(data as number));
  return counts;
}

/** Each report higher than the last, the last one the total. */
function expectGrowingCounts(counts: number[], total: number): void {
  counts.forEach((count, i) => expect(count).toBeGreaterThan(i === 0 ? 0 : counts[i - 1]!));
  expect(counts.at(-1)).toBe(total);
}

async function until(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !condition();) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

import { ManualTimeProvider, NotLeaderError, isRegionStoreError, keyRange, settle } from '@regionstore/core';
import { mvccScan } from '@regionstore/engine';
import {
  BackupPool,
  BackupTask,
  EngineRestoreSink,
  RestoreRunner,
  backupFileName,
  buildBackupMeta,
  type RegionInfo,
} from '@regionstore/backup';
import { createStorage } from '@regionstore/storage-backends';
import { b, leaderRegions, request, runTask, ts, useEndpoints, writeVersions } from './helpers';

const fixtures = useEndpoints('backup-endpoint');
const toBase64 = (text: string) => b(text).toString('base64');

describe('BackupTask', () => {
  it('rejects an unknown CF with InvalidCf when it is created', () => {
    let caught: unknown;
    try {
      BackupTask.create(request({ storage: 'noop://', cf: 'nope' }));
    } catch (err) {
      caught = err;
    }
    expect(isRegionStoreError(caught, 'InvalidCf')).toBe(true);
  });
});

describe('BackupEndpoint', () => {
  it('tasks writing to one destination at once share one rate limiter: the rate holds for the node', async () => {
    const { engine, endpoint, regionInfo } = await fixtures.endpoint();
    regionInfo.setRegions(leaderRegions([['', '5', 1]]));
    await writeVersions(engine, [['1', 1, 'x'.repeat(1000)]]);
    const url = fixtures.storageUrl();
    // Two region tasks of one cluster backup (each its own range), and one to elsewhere.
    const tasks = [
      request({ endKey: toBase64('2'), endVersion: ts(5).toString(), storage: url, rateLimit: 1 << 20 }),
      request({ startKey: toBase64('2'), endVersion: ts(5).toString(), storage: url, rateLimit: 1 << 20 }),
      request({ endVersion: ts(5).toString(), storage: 'noop://', rateLimit: 1 << 20 }),
    ].map((r) => BackupTask.create(r));
    const running = tasks.map((task) => runTask(endpoint, task));
    expect(endpoint.limiters.size).toBe(2); // one per destination, not one per task
    for (const responses of await Promise.all(running))
      expect(responses.every((r) => r.error === undefined)).toBe(true);
    expect(endpoint.limiters.size).toBe(0); // given back when the last task there ends
  });

  it('counts every entry a task reads, kept or not: an incremental backup of an unchanged range still shows its work', async () => {
    const { engine, endpoint, regionInfo } = await fixtures.endpoint();
    regionInfo.setRegions(leaderRegions([['', '', 1]]));
    for (let i = 0; i < 50; i++)
      await writeVersions(engine, [[`k${String(i).padStart(2, '0')}`, 2 + i, 'v']]);
    const unchanged = BackupTask.create(
      request({ startVersion: ts(100).toString(), endVersion: ts(200).toString(), storage: 'noop://' }),
    );
    const responses = await runTask(endpoint, unchanged);
    expect(responses.flatMap((r) => r.files).reduce((n, f) => n + f.kvCount, 0)).toBe(0);
    expect(unchanged.entriesRead).toBe(50);
    const full = BackupTask.create(request({ endVersion: ts(200).toString(), storage: 'noop://' }));
    await runTask(endpoint, full);
    expect(full.entriesRead).toBe(50);
  });

  // Counterpart of the seed's test_handle_backup_task.
  it('backs up multi-version data: one response per backup ts with the versions visible then', async () => {
    const { engine, endpoint, regionInfo } = await fixtures.endpoint();
    regionInfo.setRegions(leaderRegions([['', '5', 1]]));
    const backupTss: Array<{ at: number; len: number }> = [];
    let clock = 1;
    for (const len of [10, 300]) {
      for (let i = 0; i < 10; i++) {
        await writeVersions(engine, [[String(i), ++clock, String.fromCharCode(65 + i).repeat(len)]]);
        backupTss.push({ at: ++clock, len });
      }
    }
    for (const [n, { at }] of backupTss.entries()) {
      const rateLimited = n % 2 === 0;
      const url = fixtures.storageUrl();
      const task = BackupTask.create(
        request({
          endKey: toBase64('5'),
          endVersion: ts(at).toString(),
          storage: url,
          rateLimit: rateLimited ? 10 * 1024 * 1024 : 0,
        }),
      );
      const responses = await runTask(endpoint, task);
      expect(responses).toHaveLength(1);
      const [response] = responses;
      expect(response!.error).toBeUndefined();
      expect(response!.files).toHaveLength(1);
      const file = response!.files[0]!;
      // keys 0..4 are in the region [, 5); the count of them committed by `at`
      const visible = [];
      for await (const entry of mvccScan(engine, keyRange(b(''), b('5')), ts(at))) visible.push(entry);
      expect(file.kvCount).toBe(visible.length);
      expect(file.startVersion).toBe(0n);
      expect(file.endVersion).toBe(ts(at));
      expect(file.name).toMatch(/^1_4294967297_1_[0-9a-f]{64}_\d+_default\.rsst$/);

      // and the file holds exactly those versions
      const target = await fixtures.engine();
      await new RestoreRunner({ storage: createStorage(url), sink: new EngineRestoreSink(target) }).run(
        buildBackupMeta(task.request, responses),
      );
      const restored = [];
      for await (const entry of mvccScan(target, keyRange(b(''), b('')))) restored.push(entry);
      expect(restored).toEqual(visible);
    }
  });

  // Counterpart of the seed's test_scan_error.
  it('answers a range with an in-flight write at or below the backup ts with Locked, and a lost leadership with NotLeader', async () => {
    const { engine, endpoint, regionInfo, concurrency } = await fixtures.endpoint();
    regionInfo.setRegions(leaderRegions([['', '5', 1]]));
    await writeVersions(engine, [['1', 1, 'one']]);
    const guard = concurrency.beginWrite([b('2')]); // a write between its ts and its apply
    const at = concurrency.timestamps.maxTs() + 10n;
    const locked = await runTask(
      endpoint,
      BackupTask.create(
        request({ endKey: toBase64('5'), endVersion: at.toString(), storage: fixtures.storageUrl() }),
      ),
    );
    expect(locked).toHaveLength(1);
    expect(locked[0]!.error?.code).toBe('Locked');
    expect(locked[0]!.files).toEqual([]);
    // the backup raised maxTs: later writes commit above the backup ts
    const later = concurrency.beginWrite([b('3')]);
    expect(later.ts).toBeGreaterThan(at);
    later.release();
    guard.release();

    regionInfo.ensureLeader = (region: RegionInfo) => {
      throw new NotLeaderError(`not leader of ${region.regionId.toString()}`);
    };
    const notLeader = await runTask(
      endpoint,
      BackupTask.create(
        request({ endKey: toBase64('5'), endVersion: (at + 1n).toString(), storage: fixtures.storageUrl() }),
      ),
    );
    expect(notLeader).toHaveLength(1);
    expect(notLeader[0]!.error?.code).toBe('NotLeader');
  });

  // Counterpart of the seed's test_cancel.
  it('sends nothing for a task cancelled before it starts or while it seeks regions', async () => {
    const { engine, endpoint, regionInfo } = await fixtures.endpoint();
    regionInfo.setRegions(leaderRegions([['', '5', 1]]));
    await writeVersions(engine, [['1', 1, 'one']]);
    const before = BackupTask.create(
      request({ endVersion: ts(5).toString(), storage: fixtures.storageUrl() }),
    );
    before.cancel();
    expect(await runTask(endpoint, before)).toEqual([]);

    const during = BackupTask.create(
      request({ endVersion: ts(5).toString(), storage: fixtures.storageUrl() }),
    );
    const seek = regionInfo.seekRegions.bind(regionInfo);
    regionInfo.seekRegions = (from: Buffer) => {
      during.cancel();
      return seek(from);
    };
    expect(await runTask(endpoint, during)).toEqual([]);
  });

  it('stops a range under way when its task is cancelled, its rate-limited writes too, and sends nothing for it', async () => {
    const { engine, endpoint, regionInfo } = await fixtures.endpoint();
    regionInfo.setRegions(leaderRegions([['', '', 1]]));
    const value = 'x'.repeat(1000);
    for (let i = 0; i < 300; i++) await writeVersions(engine, [[`k${String(i).padStart(3, '0')}`, 2, value]]);
    // ~300 KB at 20 KB/s: fifteen seconds unless the cancel cuts it short.
    const task = BackupTask.create(
      request({
        endVersion: ts(5).toString(),
        storage: fixtures.storageUrl(),
        rateLimit: 20_000,
        compressionType: 'none',
      }),
    );
    const running = runTask(endpoint, task);
    while (task.entriesRead === 0) await new Promise((r) => setTimeout(r, 10));
    const cancelled = Date.now();
    task.cancel();
    expect(await running).toEqual([]);
    expect(Date.now() - cancelled).toBeLessThan(5000);
  });

  // Counterpart of the seed's test_busy.
  it('answers with ServerIsBusy while the engine is paused', async () => {
    const { engine, endpoint, regionInfo } = await fixtures.endpoint();
    regionInfo.setRegions(leaderRegions([['', '5', 1]]));
    engine.pause(6000);
    const responses = await runTask(endpoint, BackupTask.create(request({ storage: 'noop://' })));
    expect(responses).toHaveLength(1);
    expect(responses[0]!.error?.code).toBe('ServerIsBusy');
    engine.pause(0);
  });

  it('gives one error response when the storage cannot be opened', async () => {
    const { endpoint, regionInfo } = await fixtures.endpoint({ config: { numThreads: 4 } });
    regionInfo.setRegions(
      leaderRegions([
        ['', '1', 1],
        ['1', '', 2],
      ]),
    );
    const responses = await runTask(endpoint, BackupTask.create(request({ storage: 'ftp://nowhere' })));
    expect(responses).toHaveLength(1);
    expect(responses[0]!.error?.code).toBe('InvalidArgument');
  });

  // Counterpart of the seed's test_adjust_thread_pool_size.
  it('grows the pool on demand and shrinks it only when more than 10 workers would idle', async () => {
    const { endpoint, regionInfo } = await fixtures.endpoint();
    regionInfo.setRegions(leaderRegions([['', '', 1]]));
    const run = () => runTask(endpoint, BackupTask.create(request({ storage: 'noop://' })));
    endpoint.setNumThreads(15);
    await run();
    expect(endpoint.pool.size).toBe(15);
    endpoint.setNumThreads(10);
    await run();
    expect(endpoint.pool.size).toBe(15);
    endpoint.setNumThreads(3);
    await run();
    expect(endpoint.pool.size).toBe(3);
    expect(() => endpoint.setNumThreads(0)).toThrow(/numThreads/);
  });

  // Counterpart of the seed's test_thread_pool_shutdown_when_idle.
  it('drops the pool after poolIdleThreshold without tasks', async () => {
    const time = new ManualTimeProvider(0);
    const { endpoint, regionInfo } = await fixtures.endpoint({
      time,
      config: { poolIdleThresholdMs: 100, numThreads: 10 },
    });
    regionInfo.setRegions(leaderRegions([['', '', 1]]));
    endpoint.start();
    expect(endpoint.pool.size).toBe(0);
    await runTask(endpoint, BackupTask.create(request({ storage: 'noop://' })));
    expect(endpoint.pool.size).toBe(10);
    await time.advance(50);
    expect(endpoint.pool.size).toBe(10);
    await time.advance(60);
    await settle();
    expect(endpoint.pool.size).toBe(0);
    endpoint.stop();
  });

  it('splits a range into files of at most sstMaxSize raw bytes with contiguous ranges', async () => {
    const { engine, endpoint, regionInfo } = await fixtures.endpoint({ config: { sstMaxSize: 2000 } });
    regionInfo.setRegions(leaderRegions([['', '', 1]]));
    await writeVersions(
      engine,
      Array.from(
        { length: 50 },
        (_, i) => [`k${String(i).padStart(2, '0')}`, 1, 'v'.repeat(100)] as [string, number, string],
      ),
    );
    const [response] = await runTask(
      endpoint,
      BackupTask.create(request({ endVersion: ts(2).toString(), storage: fixtures.storageUrl() })),
    );
    const files = response!.files;
    expect(files.length).toBeGreaterThan(2);
    expect(files[0]!.startKey).toEqual(b(''));
    expect(files.at(-1)!.endKey).toEqual(b(''));
    for (let i = 1; i < files.length; i++) expect(files[i]!.startKey).toEqual(files[i - 1]!.endKey);
    for (const file of files) expect(file.rawBytes).toBeLessThanOrEqual(2000);
    expect(files.reduce((n, f) => n + f.kvCount, 0)).toBe(50);
    expect(new Set(files.map((f) => f.name)).size).toBe(files.length);
  });
});

describe('BackupPool', () => {
  // Counterpart of the seed's test_control_thread_pool_adjust_keep_tasks.
  it('keeps running and queued tasks across a resize', async () => {
    const pool = new BackupPool(() => 0);
    pool.adjustWith(3);
    let bits = 0;
    const job = (i: number) => () =>
      new Promise<void>((resolve) => setTimeout(() => ((bits |= 1 << i), resolve()), 20));
    const all = [];
    for (let i = 0; i < 8; i++) all.push(pool.spawn(job(i)));
    await new Promise((r) => setTimeout(r, 30));
    pool.adjustWith(4);
    expect(pool.size).toBe(4);
    for (let i = 8; i < 16; i++) all.push(pool.spawn(job(i)));
    await Promise.all(all);
    expect(bits).toBe(0xffff);
  });
});

describe('backupFileName', () => {
  it('names files store_region_version[_hash_time]', () => {
    const region = leaderRegions([['a', 'b', 7]])[0]!;
    expect(backupFileName('3', region)).toBe(`3_${region.regionId.value}_1`);
    expect(backupFileName(3, region, 'abc', 42)).toBe(`3_${region.regionId.value}_1_abc_42`);
  });
});

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  clearFailPoints,
  configureFailPoint,
  failPointHits,
  isRegionStoreError,
  keyRange,
  removeFailPoint,
  settle,
} from '@regionstore/core';
import {
  CF_DEFAULT,
  CF_LATEST,
  CF_LOCK,
  CF_RAFT,
  mvccGet,
  readApplyState,
  readRegionLocalState,
  snapshotRaftStateKey,
  type KvEngine,
} from '@regionstore/engine';
import {
  ApplyHandle,
  ApplyStatus,
  RegionRunner,
  RegionTask,
  prepareSnapshotApply,
  regionDataBounds,
  type GeneratedSnapshot,
  type SnapshotRouter,
} from '@regionstore/region-runner';
import type { ExternalStorage } from '@regionstore/storage-backends';
import { b, dump, region, seedRegion, useRunnerFixtures } from './helpers';

const fixtures = useRunnerFixtures('region-runner');
afterEach(() => clearFailPoints());

class RecordingRouter implements SnapshotRouter {
  readonly messages: Array<{ region: string; name: string }> = [];
  send(
    regionId: Parameters<SnapshotRouter['send']>[0],
    message: Parameters<SnapshotRouter['send']>[1],
  ): void {
    this.messages.push({ region: regionId.toString(), name: message.snapshot.name });
  }
}

const RANGE = keyRange(b('b'), b('m'));

async function genFrom(runner: RegionRunner, engine: KvEngine, n: number, signal?: AbortSignal) {
  const applyState = (await readApplyState(engine, region(n)))!;
  return runner.schedule(
    RegionTask.gen({
      regionId: region(n),
      term: 3,
      applyState,
      snapshot: engine.snapshot(),
      ...(signal ? { signal } : {}),
    }),
  );
}

describe('RegionRunner gen and apply', () => {
  it('moves a region between two engines with identical data, replacing what the target had', async () => {
    const source = await fixtures.engine();
    const target = await fixtures.engine();
    const storage = fixtures.storage();
    const router = new RecordingRouter();
    await seedRegion(source, region(1), RANGE, [
      ['a', 'outside-left'],
      ['b', 'v1'],
      ['c', 'v2'],
      ['c', 'v3'],
      ['l\xff', 'v4'],
      ['m', 'outside-right'],
    ]);
    await source.put(CF_LOCK, regionDataBounds(keyRange(b('d'), b('e'))).start, b('intent'));
    // The target holds stale data of the range, and data of a neighbour that must survive.
    await seedRegion(target, region(9), keyRange(b('m'), b('')), [['n', 'neighbour']]);
    await seedRegion(target, region(1), RANGE, [['d', 'stale']]);

    const sourceRunner = new RegionRunner({ engine: source, storage, router });
    const snapshot = (await genFrom(sourceRunner, source, 1))!;
    expect(snapshot.name).toBe(`snapshots/${region(1).value}/3-10.rsst`);
    expect(snapshot.kvCount).toBe(5); // four versions in range + one lock
    expect(router.messages).toEqual([{ region: region(1).toString(), name: snapshot.name }]);
    // The runner released the engine snapshot it was handed.
    expect(source.oldestSnapshotSequence()).toBeUndefined();

    const targetRunner = new RegionRunner({ engine: target, storage });
    await prepareSnapshotApply(
      target,
      { regionId: region(1), range: RANGE, epoch: { version: 2, confVer: 1 } },
      snapshot.key,
    );
    expect((await readRegionLocalState(target, region(1)))!.state).toBe('Applying');
    const handle = new ApplyHandle();
    expect(await targetRunner.schedule(RegionTask.apply(region(1), handle))).toBe(ApplyStatus.Finished);
    expect(handle.status).toBe('Finished');

    const bounds = regionDataBounds(RANGE);
    // `latest` is not in the file; the apply derives the same copies the source's writes made.
    for (const cf of [CF_DEFAULT, CF_LOCK, CF_LATEST] as const) {
      expect(await dump(target, cf, bounds)).toEqual(await dump(source, cf, bounds));
    }
    expect(await dump(target, CF_LATEST, bounds)).toHaveLength(3);
    expect((await mvccGet(target, b('c')))?.toString()).toBe('v3');
    expect(await mvccGet(target, b('d'))).toBeUndefined();
    expect(await mvccGet(target, b('a'))).toBeUndefined();
    expect((await mvccGet(target, b('n')))?.toString()).toBe('neighbour');
    const state = (await readRegionLocalState(target, region(1)))!;
    expect(state.state).toBe('Normal');
    expect(state.epoch).toEqual({ version: 2, confVer: 1 });
    expect(await target.get(CF_RAFT, snapshotRaftStateKey(region(1)))).toBeUndefined();
    await Promise.all([sourceRunner.stop(), targetRunner.stop()]);
  });

  it('applies another region’s snapshot named as its source, keeping only the region’s own range', async () => {
    const source = await fixtures.engine();
    const target = await fixtures.engine();
    const storage = fixtures.storage();
    await seedRegion(source, region(1), RANGE, [
      ['b', 'left half'],
      ['f', 'left half'],
      ['h', 'right half'],
      ['k', 'right half'],
    ]);
    await source.put(CF_LOCK, regionDataBounds(keyRange(b('c'), b('d'))).start, b('left intent'));
    const sourceRunner = new RegionRunner({ engine: source, storage });
    const parent = (await genFrom(sourceRunner, source, 1))!;
    // Region 2 holds the right half of region 1's range (a split child) and loads region 1's file.
    const half = keyRange(b('g'), b('m'));
    await seedRegion(target, region(7), keyRange(b('a'), b('g')), [['c', 'neighbour']]);
    const targetRunner = new RegionRunner({ engine: target, storage });
    // Region n of `half` about to load a snapshot (what an open does before its apply task).
    const prepare = (n: number) =>
      prepareSnapshotApply(
        target,
        { regionId: region(n), range: half, epoch: { version: 2, confVer: 1 } },
        { regionId: region(n), term: 3, index: 0 },
      );
    await prepare(2);
    const from = { name: parent.name, region: region(1) };
    expect(await targetRunner.schedule(RegionTask.apply(region(2), undefined, from))).toBe('Finished');
    for (const cf of [CF_DEFAULT, CF_LOCK, CF_LATEST] as const) {
      expect(await dump(target, cf, regionDataBounds(half))).toEqual(
        await dump(source, cf, regionDataBounds(half)),
      );
    }
    expect((await mvccGet(target, b('k')))?.toString()).toBe('right half');
    expect(await mvccGet(target, b('b'))).toBeUndefined();
    expect(await dump(target, CF_LOCK, regionDataBounds(keyRange(b('a'), b('g'))))).toEqual([]);
    expect((await mvccGet(target, b('c')))?.toString()).toBe('neighbour');

    // The file says which region wrote it: a source naming another is refused before anything changes.
    await prepare(3);
    const wrongly = RegionTask.apply(region(3), undefined, { name: parent.name, region: region(4) });
    expect(await targetRunner.schedule(wrongly)).toBe('Failed');
    expect(wrongly.handle.error?.message).toMatch(/holds region .*, not /);
    await Promise.all([sourceRunner.stop(), targetRunner.stop()]);
  });

  it('does not generate when cancelled before start, and leaves no object when cancelled during', async () => {
    const engine = await fixtures.engine();
    const storage = fixtures.storage();
    await seedRegion(
      engine,
      region(1),
      RANGE,
      Array.from(
        { length: 3000 },
        (_, i) => [`c${String(i).padStart(5, '0')}`, 'x'.repeat(100)] as [string, string],
      ),
    );
    const router = new RecordingRouter();
    const runner = new RegionRunner({ engine, storage, router });

    const before = new AbortController();
    before.abort();
    expect(await genFrom(runner, engine, 1, before.signal)).toBeUndefined();

    // Cancel once the storage has received the first chunk of the file.
    const during = new AbortController();
    const cancelling: ExternalStorage = Object.create(storage) as ExternalStorage;
    cancelling.write = async (name, data, options) => {
      async function* tap() {
        for await (const chunk of data) {
          during.abort();
          yield chunk as Buffer;
        }
      }
      return storage.write(name, tap(), options);
    };
    const cancellingRunner = new RegionRunner({ engine, storage: cancelling, router });
    expect(await genFrom(cancellingRunner, engine, 1, during.signal)).toBeUndefined();

    expect(router.messages).toEqual([]);
    expect(await storage.exists(`snapshots/${region(1).value}/3-10.rsst`)).toBe(false);
    expect(engine.oldestSnapshotSequence()).toBeUndefined();
    await runner.stop();
    await cancellingRunner.stop();
  });

  it('runs at most snapGeneratorPoolSize generations at once', async () => {
    const engine = await fixtures.engine();
    for (let n = 1; n <= 3; n++) await seedRegion(engine, region(n), RANGE, [['c', `v${n}`]], n);
    const runner = new RegionRunner({
      engine,
      storage: fixtures.storage(),
      config: { snapGeneratorPoolSize: 2 },
    });
    configureFailPoint('before_region_gen_snap', 'pause');
    const results = [1, 2, 3].map((n) => genFrom(runner, engine, n));
    for (let i = 0; i < 200 && failPointHits('before_region_gen_snap') < 2; i++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    await new Promise((resolve) => setTimeout(resolve, 50)); // a third generation would arrive by now
    expect(failPointHits('before_region_gen_snap')).toBe(2);
    expect(runner.generatingCount).toBe(3);
    removeFailPoint('before_region_gen_snap');
    const done = (await Promise.all(results)) as GeneratedSnapshot[];
    expect(done.map((s) => s.key.index)).toEqual([1, 2, 3]);
    await runner.stop();
  });

  it('fails an apply whose region state or snapshot file is missing, naming it', async () => {
    const engine = await fixtures.engine();
    const runner = new RegionRunner({ engine, storage: fixtures.storage() });

    const noState = RegionTask.apply(region(4));
    expect(await runner.schedule(noState)).toBe('Failed');
    expect(isRegionStoreError(noState.handle.error, 'NotFound')).toBe(true);
    expect(noState.handle.error!.message).toMatch(/region state of 1:4 from key 01/);

    await prepareSnapshotApply(
      engine,
      { regionId: region(5), range: RANGE, epoch: { version: 1, confVer: 1 } },
      {
        regionId: region(5),
        term: 2,
        index: 7,
      },
    );
    const noFile = RegionTask.apply(region(5));
    expect(await runner.schedule(noFile)).toBe('Failed');
    expect(noFile.handle.error!.message).toBe(`missing snapshot file snapshots/${region(5).value}/2-7.rsst`);
    await runner.stop();
  });

  it('fails an apply of a damaged snapshot and leaves the region untouched', async () => {
    const source = await fixtures.engine();
    const target = await fixtures.engine();
    const storage = fixtures.storage();
    await seedRegion(source, region(1), RANGE, [['c', 'new']]);
    await seedRegion(target, region(1), RANGE, [['c', 'old']]);
    const runner = new RegionRunner({ engine: source, storage });
    const snapshot = (await genFrom(runner, source, 1))!;
    const path = join(storage.root, snapshot.name);
    const bytes = await readFile(path);
    bytes[20] = bytes[20]! ^ 0xff; // inside the first block
    await writeFile(path, bytes);

    await prepareSnapshotApply(
      target,
      { regionId: region(1), range: RANGE, epoch: { version: 2, confVer: 1 } },
      snapshot.key,
    );
    const task = RegionTask.apply(region(1));
    const targetRunner = new RegionRunner({ engine: target, storage });
    expect(await targetRunner.schedule(task)).toBe('Failed');
    expect(isRegionStoreError(task.handle.error, 'ChecksumMismatch')).toBe(true);
    expect((await mvccGet(target, b('c')))?.toString()).toBe('old');
    expect((await readRegionLocalState(target, region(1)))!.state).toBe('Applying');
    await runner.stop();
    await targetRunner.stop();
  });

  it('cancels an apply between steps and keeps the region in Applying', async () => {
    const engine = await fixtures.engine();
    const storage = fixtures.storage();
    await seedRegion(engine, region(1), RANGE, [['c', 'v']]);
    const runner = new RegionRunner({ engine, storage });
    const snapshot = (await genFrom(runner, engine, 1))!;
    await prepareSnapshotApply(
      engine,
      { regionId: region(1), range: RANGE, epoch: { version: 2, confVer: 1 } },
      snapshot.key,
    );

    // The cancel arrives while the snapshot is being verified (the first read of the file).
    const handle = new ApplyHandle();
    const cancelling: ExternalStorage = Object.create(storage) as ExternalStorage;
    cancelling.read = async (name) => {
      handle.cancel();
      return storage.read(name);
    };
    const cancellingRunner = new RegionRunner({ engine, storage: cancelling });
    expect(await cancellingRunner.schedule(RegionTask.apply(region(1), handle))).toBe('Cancelled');
    expect(handle.error).toBeUndefined();
    // Verification runs before the old data is cleared, so the data is still there.
    expect((await mvccGet(engine, b('c')))?.toString()).toBe('v');
    expect((await readRegionLocalState(engine, region(1)))!.state).toBe('Applying');
    expect(handle.cancel()).toBe(false);
    await runner.stop();
    await cancellingRunner.stop();
  });

  it('treats the region_apply_snap fail point as a finished apply that did nothing', async () => {
    const engine = await fixtures.engine();
    const runner = new RegionRunner({ engine, storage: fixtures.storage() });
    configureFailPoint('region_apply_snap', 'return');
    expect(await runner.schedule(RegionTask.apply(region(42)))).toBe('Finished');
    await runner.stop();
  });

  it('refuses tasks after stop with WorkerStopped, releasing a handed-over snapshot', async () => {
    const engine = await fixtures.engine();
    const runner = new RegionRunner({ engine, storage: fixtures.storage() });
    await runner.stop();
    const snapshot = engine.snapshot();
    await expect(
      runner.schedule(
        RegionTask.gen({
          regionId: region(1),
          term: 1,
          applyState: { appliedIndex: 1, truncatedIndex: 1, truncatedTerm: 1 },
          snapshot,
        }),
      ),
    ).rejects.toMatchObject({ code: 'WorkerStopped' });
    await settle();
    expect(engine.oldestSnapshotSequence()).toBeUndefined();
    await expect(runner.schedule(RegionTask.destroy(region(1), b('a'), b('b')))).rejects.toMatchObject({
      code: 'WorkerStopped',
    });
  });
});

import { ManualTimeProvider, keyRange } from '@regionstore/core';
import {
  ALL_CFS,
  CF_DEFAULT,
  readApplyState,
  readRegionLocalState,
  type RocksEngine,
} from '@regionstore/engine';
import {
  ApplyStatus,
  RegionRunner,
  RegionTask,
  prepareSnapshotApply,
  type GeneratedSnapshot,
} from '@regionstore/region-runner';
import { region, seedRegion, useRunnerFixtures } from './helpers';

const fixtures = useRunnerFixtures('pending-applies');

const l0 = (engine: RocksEngine) => engine.numFilesAtLevel(CF_DEFAULT, 0);

async function compactAll(engine: RocksEngine): Promise<void> {
  for (const cf of ALL_CFS) await engine.compactRange(cf, Buffer.alloc(0), Buffer.alloc(0));
}

// Counterpart of the seed's test_pending_applies. Our apply writes the snapshot and flushes it, so each
// apply adds one L0 file to `default` (TiKV's ingestion adds two). With a slowdown trigger of 4 and a
// compaction trigger of 2, applies are held back once L0 has 3 files. RocksDB compacts on its own
// only at 4 L0 files, so the counts below are ours alone.
describe('RegionRunner pending applies', () => {
  it('holds applies back while L0 could stall writes and releases them in order after compaction', async () => {
    const engine = await fixtures.engine({
      level0SlowdownWritesTrigger: 4,
      level0FileNumCompactionTrigger: 2,
    });
    const time = new ManualTimeProvider();
    const runner = new RegionRunner({
      engine,
      storage: fixtures.storage(),
      time,
      config: { tickIntervalMs: 1000 },
    });
    runner.start();
    const ids = [1, 2, 3, 4, 5, 6, 7];
    for (const n of ids) {
      await seedRegion(
        engine,
        region(n),
        keyRange(Buffer.from([n]), Buffer.from([n + 1])),
        [[Buffer.from([n]), `v${n}`]],
        n,
      );
    }
    for (let i = 0; i < 3; i++) {
      await engine.put(CF_DEFAULT, Buffer.from([0x7a, 0xf0, i]), Buffer.from('filler'));
      await engine.flush(CF_DEFAULT);
      expect(await l0(engine)).toBe(i + 1);
    }

    const finished: number[] = [];
    const genAndApply = async (n: number) => {
      const applyState = (await readApplyState(engine, region(n)))!;
      const snapshot = (await runner.schedule(
        RegionTask.gen({ regionId: region(n), term: 1, applyState, snapshot: engine.snapshot() }),
      )) as GeneratedSnapshot;
      const local = (await readRegionLocalState(engine, region(n)))!;
      await prepareSnapshotApply(engine, local, snapshot.key);
      const task = RegionTask.apply(region(n));
      void runner.schedule(task).then((status) => {
        expect(status).toBe(ApplyStatus.Finished);
        finished.push(n);
      });
      await runner.tick().then(
        () => undefined,
        () => undefined,
      ); // let the apply be tried once
      return task.handle;
    };

    // L0 already holds 3 files: the apply waits.
    const first = await genAndApply(1);
    expect(first.status).toBe('Pending');
    expect(runner.pendingApplyCount).toBe(1);
    expect(await l0(engine)).toBe(3);

    await compactAll(engine);
    expect(await l0(engine)).toBe(0);
    await time.advance(1000);
    await first.done;
    expect(await l0(engine)).toBe(1);

    // No stall: applies at once.
    const second = await genAndApply(2);
    await second.done;
    expect(await l0(engine)).toBe(2);
    const third = await genAndApply(3);
    await third.done;
    expect(await l0(engine)).toBe(3);

    // Now every apply waits, in arrival order.
    const waiting = [await genAndApply(4), await genAndApply(5), await genAndApply(6), await genAndApply(7)];
    expect(waiting.map((h) => h.status)).toEqual(['Pending', 'Pending', 'Pending', 'Pending']);
    expect(await l0(engine)).toBe(3);

    await compactAll(engine);
    await time.advance(1000);
    await Promise.all(waiting.slice(0, 3).map((h) => h.done));
    // Three fit before L0 reaches 3 again; the last keeps waiting.
    expect(await l0(engine)).toBe(3);
    expect(waiting[3]!.status).toBe('Pending');
    expect(runner.pendingApplyCount).toBe(1);

    await compactAll(engine);
    await time.advance(1000);
    await waiting[3]!.done;
    expect(await l0(engine)).toBe(1);
    expect(finished).toEqual(ids);
    for (const n of ids) expect((await readRegionLocalState(engine, region(n)))!.state).toBe('Normal');
    await runner.stop();
  });

  it('cancels an apply that is still waiting, and stop cancels the rest', async () => {
    const engine = await fixtures.engine({
      level0SlowdownWritesTrigger: 4,
      level0FileNumCompactionTrigger: 2,
    });
    const runner = new RegionRunner({ engine, storage: fixtures.storage() });
    for (let i = 0; i < 3; i++) {
      await engine.put(CF_DEFAULT, Buffer.from([0x7a, i]), Buffer.from('filler'));
      await engine.flush(CF_DEFAULT);
    }
    const one = RegionTask.apply(region(1));
    const two = RegionTask.apply(region(2));
    void runner.schedule(one);
    void runner.schedule(two);
    await runner.tick();
    expect(runner.pendingApplyCount).toBe(2);
    expect(one.handle.cancel()).toBe(true);
    expect(one.handle.status).toBe('Cancelling');
    await compactAll(engine);
    await runner.tick();
    expect(await one.handle.done).toBe('Cancelled');
    // The second has no region state: it ran and failed, naming the key.
    expect(await two.handle.done).toBe('Failed');

    for (let i = 0; i < 3; i++) {
      await engine.put(CF_DEFAULT, Buffer.from([0x7a, i]), Buffer.from('filler'));
      await engine.flush(CF_DEFAULT);
    }
    const three = RegionTask.apply(region(3));
    void runner.schedule(three);
    await runner.tick();
    expect(three.handle.status).toBe('Pending');
    await runner.stop();
    expect(await three.handle.done).toBe('Cancelled');
  });
});

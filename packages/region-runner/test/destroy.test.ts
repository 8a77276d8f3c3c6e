import { ManualTimeProvider, composeTimestamp } from '@regionstore/core';
import { WriteBatch, mvccGet, putVersion } from '@regionstore/engine';
import { RegionRunner, RegionTask } from '@regionstore/region-runner';
import { b, region, useRunnerFixtures } from './helpers';

const fixtures = useRunnerFixtures('region-destroy');

describe('RegionRunner destroy', () => {
  // Counterpart of the seed's test_stale_peer.
  it('delays deletion while a snapshot may read the range, then deletes it and keeps the neighbour', async () => {
    const engine = await fixtures.engine();
    const time = new ManualTimeProvider();
    const runner = new RegionRunner({
      engine,
      storage: fixtures.storage(),
      time,
      config: { tickIntervalMs: 100, cleanStaleTick: 1 },
    });
    const put = async (key: string, value: string) =>
      engine.write(putVersion(new WriteBatch(), b(key), composeTimestamp(1000), b(value)));

    const keys: string[] = [];
    for (let i = 0; i < 10; i++) {
      keys.push(`k0${i}`);
      await put(`k0${i}`, 'v1');
    }
    await put('k1', 'v1');
    const snapshot = engine.snapshot();
    await put('k2', 'v2');

    await runner.schedule(RegionTask.destroy(region(1), b('k1'), b('k2')));
    for (let i = 0; i < 9; i++) {
      await runner.schedule(RegionTask.destroy(region(i + 2), b(keys[i]!), b(keys[i + 1]!)));
    }
    runner.start();
    await time.advance(100);
    // Everything was registered after the snapshot, so nothing may go yet.
    expect(runner.pendingDeleteRanges.size).toBe(10);
    expect((await mvccGet(engine, b('k1')))?.toString()).toBe('v1');
    expect((await mvccGet(engine, b('k00')))?.toString()).toBe('v1');

    await snapshot.release();
    await time.advance(100);
    await runner.tick(); // waits for the timer's tick to finish
    expect(runner.pendingDeleteRanges.size).toBe(0);
    expect(await mvccGet(engine, b('k1'))).toBeUndefined();
    expect((await mvccGet(engine, b('k2')))?.toString()).toBe('v2');
    for (let i = 0; i < 9; i++) expect(await mvccGet(engine, b(keys[i]!))).toBeUndefined();
    expect((await mvccGet(engine, b('k09')))?.toString()).toBe('v1');
    await runner.stop();
  });

  it('deletes at once when no snapshot is alive', async () => {
    const engine = await fixtures.engine();
    const runner = new RegionRunner({ engine, storage: fixtures.storage() });
    await engine.write(putVersion(new WriteBatch(), b('x'), composeTimestamp(5), b('v')));
    await runner.schedule(RegionTask.destroy(region(1), b('w'), b('')));
    expect(runner.pendingDeleteRanges.size).toBe(0);
    expect(await mvccGet(engine, b('x'))).toBeUndefined();
    await runner.stop();
  });

  it('cleans stale ranges only every cleanStaleTick ticks', async () => {
    const engine = await fixtures.engine();
    const time = new ManualTimeProvider();
    const runner = new RegionRunner({
      engine,
      storage: fixtures.storage(),
      time,
      config: { tickIntervalMs: 1000, cleanStaleTick: 3 },
    });
    await engine.write(putVersion(new WriteBatch(), b('c'), composeTimestamp(5), b('v')));
    const snapshot = engine.snapshot();
    await runner.schedule(RegionTask.destroy(region(1), b('a'), b('d')));
    await snapshot.release();
    runner.start();
    await time.advance(2000);
    await runner.tick(); // third tick, run by hand
    expect(runner.pendingDeleteRanges.size).toBe(0);
    await runner.stop();

    // And with the timer alone: two ticks are not enough, the third cleans.
    const again = new RegionRunner({
      engine,
      storage: fixtures.storage(),
      time,
      config: { cleanStaleTick: 3 },
    });
    const view = engine.snapshot();
    await engine.write(putVersion(new WriteBatch(), b('c'), composeTimestamp(6), b('v')));
    await again.schedule(RegionTask.destroy(region(2), b('a'), b('d')));
    await view.release();
    again.start();
    await time.advance(2000);
    expect(again.pendingDeleteRanges.size).toBe(1);
    await time.advance(1000);
    await again.stop();
    expect(again.pendingDeleteRanges.size).toBe(0);
    expect(await mvccGet(engine, b('c'))).toBeUndefined();
  });

  it('a new destroy over a pending range deletes the old range at once and replaces it', async () => {
    const engine = await fixtures.engine();
    const runner = new RegionRunner({ engine, storage: fixtures.storage() });
    await engine.write(putVersion(new WriteBatch(), b('b'), composeTimestamp(5), b('v')));
    const snapshot = engine.snapshot();
    await runner.schedule(RegionTask.destroy(region(1), b('a'), b('f')));
    expect((await mvccGet(engine, b('b')))?.toString()).toBe('v');
    await runner.schedule(RegionTask.destroy(region(2), b('d'), b('k')));
    const pending = runner.pendingDeleteRanges.findOverlapRanges(Buffer.alloc(0), Buffer.from([0xff]));
    expect(pending.map((r) => r.regionId.regionNumber)).toEqual([2]);
    // Deleted with tombstones, not by dropping files, so the live snapshot still reads it.
    expect(await mvccGet(engine, b('b'))).toBeUndefined();
    expect((await mvccGet(snapshot, b('b')))?.toString()).toBe('v');
    await snapshot.release();
    await runner.stop();
  });
});

import {
  clearFailPoints,
  composeTimestamp,
  configureFailPoint,
  failPointHits,
  removeFailPoint,
} from '@regionstore/core';
import {
  CF_RAFT,
  PENDING_DELETE_KEYS,
  WriteBatch,
  mvccGet,
  pendingDeleteKey,
  putVersion,
} from '@regionstore/engine';
import { RegionRunner, RegionTask, regionDataBounds } from '@regionstore/region-runner';
import { b, region, useRunnerFixtures } from './helpers';

const fixtures = useRunnerFixtures('region-persisted-deletes');

async function records(engine: Awaited<ReturnType<typeof fixtures.engine>>): Promise<number> {
  let n = 0;
  for await (const _ of engine.iterate(CF_RAFT, PENDING_DELETE_KEYS)) n++;
  return n;
}

describe('pending deletions across a restart', () => {
  it('keeps a registered deletion in the engine and runs it after a restart', async () => {
    const engine = await fixtures.engine();
    await engine.write(putVersion(new WriteBatch(), b('k1'), composeTimestamp(1000), b('v')));
    const runner = new RegionRunner({ engine, storage: fixtures.storage() });
    const reader = engine.snapshot(); // holds the deletion back
    await runner.schedule(RegionTask.destroy(region(1), b('k'), b('l')));
    expect(runner.pendingDeleteRanges.size).toBe(1);
    expect(await records(engine)).toBe(1);
    await reader.release();
    await runner.stop(); // a restart before any cleanup ran
    await engine.close();

    const again = await fixtures.engine({ path: engine.path });
    expect((await mvccGet(again, b('k1')))?.toString()).toBe('v');
    const restarted = new RegionRunner({
      engine: again,
      storage: fixtures.storage(),
      config: { cleanStaleTick: 1 },
    });
    expect(await restarted.restorePendingDeletes()).toBe(1);
    await restarted.tick();
    expect(await mvccGet(again, b('k1'))).toBeUndefined();
    expect(restarted.pendingDeleteRanges.size).toBe(0);
    expect(await records(again)).toBe(0);
    await restarted.stop();
  });

  it('drains an overlapping deletion for a region about to open, so it never runs later', async () => {
    const engine = await fixtures.engine();
    const runner = new RegionRunner({ engine, storage: fixtures.storage(), config: { cleanStaleTick: 1 } });
    await engine.write(putVersion(new WriteBatch(), b('k1'), composeTimestamp(1000), b('old')));
    const reader = engine.snapshot();
    await runner.schedule(RegionTask.destroy(region(1), b('k'), b('l')));
    expect(await runner.drainOverlapRanges({ start: b('j'), end: b('k5') })).toBe(1);
    expect(await mvccGet(engine, b('k1'))).toBeUndefined(); // deleted at once, before the open
    expect(await records(engine)).toBe(0);
    // the reopened region writes again; no later cleanup touches it
    await engine.write(putVersion(new WriteBatch(), b('k1'), composeTimestamp(2000), b('new')));
    await reader.release();
    await runner.tick();
    expect((await mvccGet(engine, b('k1')))?.toString()).toBe('new');
    expect(await runner.drainOverlapRanges({ start: b('a'), end: b('z') })).toBe(0);
    await runner.stop();
  });

  it('drains without queueing behind the runner’s other work, and registers a destroy without its cleanup', async () => {
    const engine = await fixtures.engine();
    const runner = new RegionRunner({ engine, storage: fixtures.storage() });
    configureFailPoint('on_region_worker_destroy', 'pause'); // a queued task that does not end
    const stuck = runner.schedule(RegionTask.destroy(region(1), b('a'), b('b')));
    try {
      const drained = await Promise.race([
        runner.drainOverlapRanges({ start: b('x'), end: b('y') }),
        new Promise((resolve) => setTimeout(() => resolve('queued behind the paused task'), 2000)),
      ]);
      expect(drained).toBe(0);
      await runner.registerDestroy(RegionTask.destroy(region(2), b('k'), b('l')));
      expect(runner.pendingDeleteRanges.findOverlapRanges(b('zk'), b('zl'))).toHaveLength(1);
      expect(await records(engine)).toBe(1);
    } finally {
      clearFailPoints();
      await stuck;
      await runner.stop();
    }
  });

  it('leaves out the ranges live when it registers, read after its own wait, not when it was called', async () => {
    const engine = await fixtures.engine();
    const runner = new RegionRunner({ engine, storage: fixtures.storage() });
    const live: Array<{ start: Buffer; end: Buffer }> = [];
    const registering = runner.registerDestroy(RegionTask.destroy(region(3), b('k'), b('n')), () => [
      ...live,
    ]);
    // Another region starts opening over part of the range while the registration waits.
    live.push({ start: b('l'), end: b('m') });
    await registering;
    const pending = (start: string, end: string) => {
      const bounds = regionDataBounds({ start: b(start), end: b(end) });
      return runner.pendingDeleteRanges.findOverlapRanges(bounds.start, bounds.end).length;
    };
    expect([pending('l', 'm'), pending('k', 'l'), pending('m', 'n')]).toEqual([0, 1, 1]);
    expect(await records(engine)).toBe(2);
    await runner.stop();
  });

  it('a part drained while its record was being written leaves no record behind', async () => {
    const engine = await fixtures.engine();
    const runner = new RegionRunner({ engine, storage: fixtures.storage() });
    const hits = failPointHits('region_destroy_before_persist');
    configureFailPoint('region_destroy_before_persist', '1*pause');
    const registering = runner.registerDestroy(RegionTask.destroy(region(4), b('p'), b('q')), () => []);
    while (failPointHits('region_destroy_before_persist') === hits)
      await new Promise((r) => setTimeout(r, 5));
    // A region opens over it now: the drain deletes the range and its (not yet written) record.
    expect(await runner.drainOverlapRanges({ start: b('p'), end: b('q') })).toBe(1);
    removeFailPoint('region_destroy_before_persist');
    await registering;
    expect(await records(engine)).toBe(0); // a restart deletes nothing under the region opened there
    await runner.stop();
  });

  it('drops a record that does not decode instead of deleting anything', async () => {
    const engine = await fixtures.engine();
    await engine.put(CF_RAFT, pendingDeleteKey(b('zk')), b('not json'));
    const runner = new RegionRunner({ engine, storage: fixtures.storage() });
    expect(await runner.restorePendingDeletes()).toBe(0);
    expect(await records(engine)).toBe(0);
    await runner.stop();
  });
});

import {
  ManualTimeProvider,
  composeTimestamp,
  physicalOf,
  type RegionId,
  type TimeProvider,
} from '@regionstore/core';
import { CF_DEFAULT, mvccGet } from '@regionstore/engine';
import { regionDataBounds } from '@regionstore/region-runner';
import { createMetricsRegistry } from '@regionstore/runtime';
import { ALL, EPOCH, b, freshRegion, put, useCluster, type TestNode, until } from './helpers';

const cluster = useCluster('mvcc-gc');

async function versionCount(node: TestNode): Promise<number> {
  let n = 0;
  for await (const _ of node.engine.iterate(CF_DEFAULT, regionDataBounds(ALL))) n++;
  return n;
}

/** Writes `k` three times, 10 s apart on `time`; returns the commit ts of each. */
async function threeVersions(node: TestNode, region: RegionId, time: ManualTimeProvider) {
  const ts = [];
  for (const v of ['1', '2', '3']) {
    ts.push((await node.group.write({ regionId: region, mutations: [put('k', v)] })).commitTs);
    time.setNow(time.now() + 10_000);
  }
  return ts;
}

describe('MVCC GC on a node', () => {
  it('collects only below the cluster safepoint it was handed, which never moves back', async () => {
    const time = new ManualTimeProvider(10_000_000);
    const node = await cluster.node({ time });
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    const ts = await threeVersions(node, region, time);
    // No safepoint heard yet: nothing is collected, whatever the clock says.
    await node.group.ddl(region, { type: 'compact' });
    expect(await versionCount(node)).toBe(3);
    // A safepoint between the 2nd and 3rd version: the 1st goes, the 2nd is what a read there sees.
    node.group.advanceGcSafePoint(ts[1]! + 1n);
    await node.group.ddl(region, { type: 'compact' });
    expect(await versionCount(node)).toBe(2);
    expect((await mvccGet(node.engine, b('k'), ts[1]! + 1n))?.toString()).toBe('2');
    // An older safepoint (a stale reply) is ignored.
    node.group.advanceGcSafePoint(ts[0]!);
    expect(node.group.gcSafePoint).toBe(ts[1]! + 1n);
    node.group.advanceGcSafePoint(ts[2]!);
    await node.group.ddl(region, { type: 'compact' });
    expect(await versionCount(node)).toBe(1);
    expect((await mvccGet(node.engine, b('k')))?.toString()).toBe('3');
  });

  it('collects a leader region by itself at the periodic check once the safepoint has moved', async () => {
    const metrics = createMetricsRegistry({ defaultMetrics: false });
    const node = await cluster.node({ config: { checkRegionIntervalMs: 20 }, metrics });
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    let last = 0n;
    for (const v of ['1', '2', '3', '4']) {
      last = (await node.group.write({ regionId: region, mutations: [put('k', v)] })).commitTs;
    }
    await new Promise((r) => setTimeout(r, 100)); // several checks: no safepoint, nothing collected
    expect(await versionCount(node)).toBe(4);
    node.group.advanceGcSafePoint(last);
    await until(async () => node.group.getRegion(region)!.gcSafePoint === last, 'the background GC');
    expect(await versionCount(node)).toBe(1);
    const text = await metrics.metrics();
    expect(text).toMatch(/regionstore_worker_group_gc_collected_versions_total 3/);
    expect(text).toMatch(/regionstore_worker_group_gc_safepoint_age_seconds \d/);
  });
});

describe('reads at a ts', () => {
  const setup = async (time: TimeProvider) => {
    const node = await cluster.node({ time, config: { maxReadAheadMs: 1000 } });
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    return { node, region };
  };

  it('are refused below the safepoint (TsTooOld) and too far ahead of the clock; admitted ones raise the max ts', async () => {
    const time = new ManualTimeProvider(50_000_000);
    const { node, region } = await setup(time);
    const reads = node.group.readTimestamps;
    node.group.advanceGcSafePoint(composeTimestamp(time.now() - 60_000));
    expect(() => reads.admit(composeTimestamp(time.now() - 61_000))).toThrow(
      expect.objectContaining({ code: 'TsTooOld' }),
    );
    expect(() => reads.admit(composeTimestamp(time.now() + 1001))).toThrow(
      expect.objectContaining({ code: 'InvalidArgument' }),
    );
    // A read 1 s ahead: the next write commits above it, so the read repeated sees the same.
    const readTs = composeTimestamp(time.now() + 1000);
    reads.admit(readTs);
    const { commitTs } = await node.group.write({ regionId: region, mutations: [put('k', 'v')] });
    expect(commitTs).toBeGreaterThan(readTs);
    // A GC at a safepoint above a running read's ts: the read fails when it checks afterwards.
    node.group.advanceGcSafePoint(readTs + 1n);
    expect(() => reads.confirm(readTs)).toThrow(expect.objectContaining({ code: 'TsTooOld' }));
  });

  it('a region opening as leader starts its writes maxReadAheadMs ahead of its clock', async () => {
    const time = new ManualTimeProvider(70_000_000);
    const first = await setup(time);
    await first.node.group.write({ regionId: first.region, mutations: [put('a', '1')] });
    await first.node.group.ddl(first.region, { type: 'flush' });
    await first.node.group.ddl(first.region, { type: 'close' });
    const next = await cluster.node({ time, config: { maxReadAheadMs: 1000 } });
    await next.group.ddl(first.region, {
      type: 'open',
      range: ALL,
      epoch: { version: 1, confVer: 2 },
      role: 'Leader',
    });
    const { commitTs } = await next.group.write({ regionId: first.region, mutations: [put('a', '2')] });
    expect(physicalOf(commitTs)).toBeGreaterThanOrEqual(time.now() + 1000);
  });
});

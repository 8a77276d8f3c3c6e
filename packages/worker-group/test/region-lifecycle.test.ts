import { isRegionStoreError, keyRange, removeFailPoint } from '@regionstore/core';
import { mvccGet, readApplyState, readRegionLocalState } from '@regionstore/engine';
import { latestManifest, manifestFiles } from '@regionstore/region-files';
import {
  ALL,
  EPOCH,
  b,
  failure,
  freshRegion,
  objectNames,
  put,
  pausedFullFlush,
  useCluster,
  type TestNode,
} from './helpers';

const cluster = useCluster('region-lifecycle');

/** A graceful migration as the metasrv runs it: candidate, downgrade, upgrade at the next epoch, close. */
async function migrate(
  region: ReturnType<typeof freshRegion>,
  from: TestNode,
  to: TestNode,
  epoch: { version: number; confVer: number },
) {
  await to.group.ddl(region, { type: 'open', range: ALL, epoch, role: 'Follower' });
  await from.group.setRoleStateGracefully(region, 'Follower');
  const next = { version: epoch.version, confVer: epoch.confVer + 1 };
  await to.group.ddl(region, { type: 'catchup', writable: true, epoch: next });
  await from.group.ddl(region, { type: 'close', destroy: true, epoch: next });
  return next;
}

async function cleanupRuns(node: TestNode) {
  for (let i = 0; i < node.runner.config.cleanStaleTick; i++) await node.runner.tick();
}

describe('a region leaving a node and coming back', () => {
  it.each([
    ['without a flush (opened from the WAL)', false],
    ['with a flush (opened from the snapshot and the WAL after it)', true],
  ])('keeps every write %s, and no deletion runs over it', async (_label, flush) => {
    const a = await cluster.node();
    const bNode = await cluster.node();
    const region = freshRegion();
    let epoch = { version: 1, confVer: 1 };
    await a.group.ddl(region, { type: 'create', range: ALL, epoch });
    await a.group.write({ regionId: region, mutations: [put('hello', 'world')] });
    if (flush) await a.group.ddl(region, { type: 'flush' });
    // A reader on node A holds the deletion of the region's range back, as a scan or backup would.
    const reader = a.engine.snapshot();
    epoch = await migrate(region, a, bNode, epoch);

    const left = await readRegionLocalState(a.engine, region);
    expect(left).toMatchObject({ state: 'Tombstone', epoch });
    expect(await readApplyState(a.engine, region)).toBeUndefined();
    expect(a.runner.pendingDeleteRanges.size).toBe(1);

    await bNode.group.write({ regionId: region, mutations: [put('hello2', 'v2')] });
    await migrate(region, bNode, a, epoch);
    expect(a.runner.pendingDeleteRanges.size).toBe(0); // drained by the open, not left to run later
    await reader.release();
    await cleanupRuns(a);

    expect((await mvccGet(a.engine, b('hello')))?.toString()).toBe('world');
    expect((await mvccGet(a.engine, b('hello2')))?.toString()).toBe('v2');
    const write = await a.group.write({ regionId: region, mutations: [put('hello3', 'v3')] });
    expect(write.entryId).toBe(3);
  });

  it('a leader whose fence was moved one placement on, still naming it, leads again once asked there', async () => {
    const node = await cluster.node();
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await node.group.write({ regionId: region, mutations: [put('a', '1')] });
    // A split's verdict for a leader the metasrv thought dead: the fence at the next placement.
    const next = { version: EPOCH.version, confVer: EPOCH.confVer + 1 };
    await (await cluster.wal()).setFence(region, { nodeId: node.nodeId, epoch: next.confVer });
    // The heartbeat repair's open at the route's placement, before any write noticed the fence.
    await node.group.ddl(region, { type: 'open', range: ALL, epoch: next, role: 'Leader' });
    expect(node.group.getRegion(region)).toMatchObject({ role: 'Leader', epoch: next });
    await node.group.write({ regionId: region, mutations: [put('b', '2')] });
    expect((await mvccGet(node.engine, b('a')))?.toString()).toBe('1');
    expect((await mvccGet(node.engine, b('b')))?.toString()).toBe('2');
  });

  it('refuses a stale open as leader at another range or version than its copy: the copy stays', async () => {
    const node = await cluster.node();
    const region = freshRegion();
    const here = { version: 2, confVer: 3 };
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: here });
    await node.group.setRoleStateGracefully(region, 'Follower');
    const stale = {
      type: 'open',
      range: keyRange('', 'm'),
      epoch: { version: 1, confVer: 2 },
      role: 'Leader',
    } as const;
    expect(await failure(node.group.ddl(region, stale))).toMatchObject({ code: 'EpochNotMatch' });
    expect(node.group.getRegion(region)).toMatchObject({ role: 'Follower', range: ALL, epoch: here });
  });

  it('refuses a close naming an older placement than its open copy’s (a stale repair), and takes one at the same or a newer', async () => {
    const node = await cluster.node();
    const region = freshRegion();
    const here = { version: 1, confVer: 3 };
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: here });
    for (const stale of [
      { version: 1, confVer: 2 },
      { version: 0, confVer: 3 },
    ]) {
      expect(
        await failure(node.group.ddl(region, { type: 'close', destroy: true, epoch: stale })),
      ).toMatchObject({ code: 'EpochNotMatch' });
    }
    expect(node.group.getRegion(region)?.role).toBe('Leader');
    await node.group.write({ regionId: region, mutations: [put('a', '1')] });
    // The same placement (a follower copy of the route's) closes.
    await node.group.ddl(region, { type: 'close', destroy: true, epoch: here });
    expect(node.group.getRegion(region)).toBeUndefined();
  });

  it('refuses to open a tombstoned region at an older epoch (a stale job), and opens it at the same or newer one', async () => {
    const a = await cluster.node();
    const other = await cluster.node();
    const region = freshRegion();
    const epoch = { version: 1, confVer: 1 };
    await a.group.ddl(region, { type: 'create', range: ALL, epoch });
    const next = await migrate(region, a, other, epoch);
    let refused: unknown;
    try {
      await a.group.ddl(region, { type: 'open', range: ALL, epoch, role: 'Follower' });
    } catch (err) {
      refused = err;
    }
    expect(isRegionStoreError(refused, 'EpochNotMatch')).toBe(true);
    expect(a.group.isRegionExists(region)).toBe(false);
    await a.group.ddl(region, { type: 'open', range: ALL, epoch: next, role: 'Follower' });
    expect(a.group.isRegionExists(region)).toBe(true);
  });

  it('tombstones a region that is not open here any more (the node restarted) when told to destroy it', async () => {
    const a = await cluster.node();
    const region = freshRegion();
    await a.group.ddl(region, { type: 'create', range: ALL, epoch: { version: 1, confVer: 1 } });
    await a.group.write({ regionId: region, mutations: [put('x', '1')] });
    await a.group.ddl(region, { type: 'close' }); // a restart closes regions without destroying them
    expect((await readRegionLocalState(a.engine, region))?.state).toBe('Normal');
    await a.group.ddl(region, { type: 'close', destroy: true });
    expect((await readRegionLocalState(a.engine, region))?.state).toBe('Tombstone');
    await cleanupRuns(a);
    expect(await mvccGet(a.engine, b('x'))).toBeUndefined();
  });

  it('a region closed while it flushes answers that flush’s waiters, and the flush ending later answers nobody of a region opened again', async () => {
    // One flush at a time on the node: the reopened region's flush queues behind the closed one's.
    const node = await cluster.node({ config: { maxBackgroundFlushes: 1 } });
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await node.group.write({ regionId: region, mutations: [put('a', '1')] });
    const { flush: running } = await pausedFullFlush(node, region);
    const next = node.group.ddl(region, { type: 'flush' }); // waits for a flush after the running one
    await node.group.ddl(region, { type: 'close' });
    expect(await failure(running)).toMatchObject({ code: 'RegionNotFound' });
    expect(await failure(next)).toMatchObject({ code: 'RegionNotFound' });

    await node.group.ddl(region, { type: 'open', range: ALL, epoch: EPOCH, role: 'Leader' });
    const { entryId } = await node.group.write({ regionId: region, mutations: [put('b', '2')] });
    const own = node.group.ddl(region, { type: 'flush' });
    await new Promise((r) => setTimeout(r, 50));
    removeFailPoint('before_region_gen_snap'); // the closed region's flush ends first, at entry 1
    // Only the reopened region's own flush answers it, covering its write.
    expect(await own).toEqual({ lastEntryId: entryId });
    expect(node.group.getRegion(region)!.flushedEntryId).toBe(entryId);
  });

  it('a flush that outlives its node’s leadership writes no manifest and leaves no file behind', async () => {
    const a = await cluster.node();
    const bNode = await cluster.node();
    const region = freshRegion();
    await a.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await a.group.write({ regionId: region, mutations: [put('a', '1')] });
    await a.group.ddl(region, { type: 'flush', full: true });
    const before = (await latestManifest(cluster.storage, region))!;
    await a.group.write({ regionId: region, mutations: [put('b', '2')] });
    // A full flush on A stops before its snapshot; the region moves to B meanwhile.
    const { flush: outlived } = await pausedFullFlush(a, region);
    await bNode.group.ddl(region, { type: 'open', range: ALL, epoch: EPOCH, role: 'Follower' });
    await a.group.setRoleStateGracefully(region, 'Follower');
    await bNode.group.ddl(region, { type: 'catchup', writable: true, epoch: { version: 1, confVer: 2 } });
    removeFailPoint('before_region_gen_snap');
    expect(await failure(outlived)).toMatchObject({ code: 'NotLeader' });
    // The store holds the files of the region's manifests and nothing else: the snapshot A wrote is gone.
    expect(await latestManifest(cluster.storage, region)).toEqual(before);
    const names = () => objectNames(cluster.storage, `snapshots/${region.value}/`);
    for (let i = 0; i < 100 && (await names()).length > 1; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await names()).toEqual(manifestFiles(before));
    // B, the leader, flushes on from there.
    await bNode.group.write({ regionId: region, mutations: [put('c', '3')] });
    expect((await bNode.group.ddl(region, { type: 'flush' })).lastEntryId).toBe(3);
  });
});

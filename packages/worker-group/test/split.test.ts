import { RegionId, configureFailPoint, failPointHits, keyRange, removeFailPoint } from '@regionstore/core';
import { mvccGet } from '@regionstore/engine';
import { regionDataBounds } from '@regionstore/region-runner';
import { latestManifest, manifestRange } from '@regionstore/worker-group';
import { ALL, EPOCH, b, failure, freshRegion, put, useCluster } from './helpers';

const cluster = useCluster('split');
const SPLIT = { version: 2, confVer: 1 };
let nextChild = 1;
const freshChild = () => new RegionId(9, nextChild++);
const splitAt = (key: string, child: RegionId) => ({
  splitKey: b(key),
  child,
  epoch: SPLIT,
  childEpoch: SPLIT,
});

describe('split on a node', () => {
  it('keeps every write of both halves under concurrent writes; each half refuses the other’s keys', async () => {
    const node = await cluster.node();
    const region = freshRegion();
    const child = freshChild();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    for (let i = 0; i < 40; i++)
      await node.group.write({ regionId: region, mutations: [put(`k${i % 10}${i}`, `v${i}`)] });

    // Writes keep coming while the split runs: each lands in the parent before it, or is refused after.
    const acknowledged = new Map<string, string>();
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const key = `${i % 2 === 0 ? 'a' : 'z'}w${i}`;
        await node.group
          .write({ regionId: region, mutations: [put(key, `x${i}`)] })
          .then(() => acknowledged.set(key, `x${i}`))
          .catch((err: { code?: string }) => expect(err.code).toBe('KeyNotInRange'));
        // A refused write answers without I/O: let the split's own I/O run.
        await new Promise((r) => setImmediate(r));
      }
    })();
    // Split once writes to both halves have landed (a fixed wait was too short on a busy machine)
    while (!['a', 'z'].every((half) => [...acknowledged.keys()].some((k) => k.startsWith(half))))
      await new Promise((r) => setTimeout(r, 5));
    await node.group.splitRegion(region, splitAt('m', child));
    writing = false;
    await writer;
    expect([...acknowledged.keys()].some((k) => k >= 'm')).toBe(true); // some landed before the split

    expect(node.group.getRegion(region)!.range).toEqual(keyRange('', 'm'));
    expect(node.group.getRegion(region)!.epoch).toEqual(SPLIT);
    expect(node.group.getRegion(child)!.range).toEqual(keyRange('m', ''));
    expect(node.group.getRegion(child)!.role).toBe('Leader');
    expect(await failure(node.group.write({ regionId: region, mutations: [put('zz', '1')] }))).toMatchObject({
      code: 'KeyNotInRange',
    });
    expect(await failure(node.group.write({ regionId: child, mutations: [put('aa', '1')] }))).toMatchObject({
      code: 'KeyNotInRange',
    });
    // The child takes writes into its own WAL.
    expect((await node.group.write({ regionId: child, mutations: [put('zz', 'child')] })).entryId).toBe(1);
    for (const [key, value] of acknowledged)
      expect((await mvccGet(node.engine, b(key)))?.toString()).toBe(value);

    // Each half has a manifest of its own range: a fresh node opening either loads exactly that.
    expect(manifestRange((await latestManifest(cluster.storage, region))!)).toEqual(keyRange('', 'm'));
    expect(manifestRange((await latestManifest(cluster.storage, child))!)).toEqual(keyRange('m', ''));
    await node.shutdown();
    const other = await cluster.node();
    await other.group.ddl(child, {
      type: 'open',
      range: keyRange('m', ''),
      epoch: { version: 2, confVer: 2 },
      role: 'Leader',
    });
    for (const [key, value] of acknowledged) {
      const got = (await mvccGet(other.engine, b(key)))?.toString();
      expect(got).toBe(key >= 'm' ? value : undefined);
    }
    expect((await mvccGet(other.engine, b('zz')))?.toString()).toBe('child');
    // Whoever opens the parent at its epoch from before the split would find only half of its range
    // in its flush: refused, never served as empty.
    expect(
      await failure(other.group.ddl(region, { type: 'open', range: ALL, epoch: EPOCH, role: 'Follower' })),
    ).toMatchObject({ code: 'EpochNotMatch' });
    expect(await mvccGet(other.engine, b('k00'))).toBeUndefined();
  });

  it('a flush that began before the split answers no split: the split waits for one of its own', async () => {
    const node = await cluster.node();
    const region = freshRegion();
    const child = freshChild();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await node.group.write({ regionId: region, mutations: [put('a', '1'), put('t', '2')] });
    // A flush of the whole region starts, and stops before it writes its snapshot.
    configureFailPoint('before_region_gen_snap', '1*pause');
    const early = node.group.ddl(region, { type: 'flush', full: true });
    while (failPointHits('before_region_gen_snap') === 0) await new Promise((r) => setTimeout(r, 5));
    await node.group.ddl(region, { type: 'split', ...splitAt('m', child) });
    const split = node.group.splitRegion(region, splitAt('m', child));
    await new Promise((r) => setTimeout(r, 50));
    removeFailPoint('before_region_gen_snap');
    await early;
    await split;
    // The parent's latest flush holds its half only: a fresh node opening it finds nothing past 'm'.
    const manifest = (await latestManifest(cluster.storage, region))!;
    expect(manifest.epoch).toEqual(SPLIT);
    expect(manifestRange(manifest)).toEqual(keyRange('', 'm'));
    await node.shutdown();
    const other = await cluster.node();
    await other.group.ddl(region, { type: 'open', range: keyRange('', 'm'), epoch: SPLIT, role: 'Follower' });
    expect((await mvccGet(other.engine, b('a')))?.toString()).toBe('1');
    expect(await mvccGet(other.engine, b('t'))).toBeUndefined();
  });

  it('a copy of the whole range closed for good leaves a copy of a half beside it alone', async () => {
    const fast = { resolvedTsIntervalMs: 50, followerTailBlockMs: 50 };
    const leader = await cluster.node({ config: fast });
    const follower = await cluster.node({ config: fast });
    const region = freshRegion();
    const child = freshChild();
    await leader.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await leader.group.write({ regionId: region, mutations: [put('a', '1'), put('t', '2')] });
    await follower.group.ddl(region, { type: 'open', range: ALL, epoch: EPOCH, role: 'Follower' });
    await leader.group.splitRegion(region, splitAt('m', child));
    // The follower node gets a copy of the child while its copy of the whole range is still open.
    await follower.group.ddl(child, {
      type: 'open',
      range: keyRange('m', ''),
      epoch: SPLIT,
      role: 'Follower',
    });
    await follower.group.ddl(region, { type: 'close', destroy: true, epoch: SPLIT });
    const pending = (range: ReturnType<typeof keyRange>) => {
      const bounds = regionDataBounds(range);
      return follower.runner.pendingDeleteRanges.findOverlapRanges(bounds.start, bounds.end).length;
    };
    expect(pending(keyRange('', 'm'))).toBe(1);
    expect(pending(keyRange('m', ''))).toBe(0);
    for (let i = 0; i < follower.runner.config.cleanStaleTick; i++) await follower.runner.tick();
    expect((await mvccGet(follower.engine, b('t')))?.toString()).toBe('2');
  });

  it('answers a repeated split as before, and refuses a key outside the region or a stale epoch', async () => {
    const node = await cluster.node();
    const region = freshRegion();
    const child = freshChild();
    await node.group.ddl(region, { type: 'create', range: keyRange('c', 'x'), epoch: EPOCH });
    await node.group.write({ regionId: region, mutations: [put('d', '1'), put('p', '2')] });
    expect(await failure(node.group.splitRegion(region, splitAt('c', child)))).toMatchObject({
      code: 'InvalidArgument',
    });
    expect(await failure(node.group.splitRegion(region, splitAt('y', child)))).toMatchObject({
      code: 'InvalidArgument',
    });
    await node.group.splitRegion(region, splitAt('k', child));
    // A retried job (the metasrv lost the answer): nothing changes, and both are still whole.
    await node.group.splitRegion(region, splitAt('k', child));
    expect(node.group.getRegion(child)!.range).toEqual(keyRange('k', 'x'));
    expect(node.group.getRegion(child)!.lastEntryId).toBe(0);
    expect(await failure(node.group.splitRegion(region, splitAt('f', freshChild())))).toMatchObject({
      code: 'EpochNotMatch',
    });
    expect((await mvccGet(node.engine, b('p')))?.toString()).toBe('2');
  });

  it('a split whose node restarted halfway opens the child again from its local state', async () => {
    const node = await cluster.node({ nodeId: 'restarting' });
    const region = freshRegion();
    const child = freshChild();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await node.group.write({ regionId: region, mutations: [put('a', '1'), put('t', '2')] });
    await node.group.ddl(region, { type: 'split', ...splitAt('m', child) }); // the first step only
    await node.shutdown();
    // The node comes back; its region is reopened from the route, which still names the whole range.
    const again = await cluster.node({ nodeId: 'restarting' });
    await again.group.ddl(region, { type: 'open', range: ALL, epoch: EPOCH, role: 'Leader' });
    await again.group.splitRegion(region, splitAt('m', child));
    expect(again.group.getRegion(region)!.range).toEqual(keyRange('', 'm'));
    expect(again.group.getRegion(child)!.range).toEqual(keyRange('m', ''));
    expect((await mvccGet(again.engine, b('t')))?.toString()).toBe('2');
    expect(manifestRange((await latestManifest(cluster.storage, child))!)).toEqual(keyRange('m', ''));
  });
});

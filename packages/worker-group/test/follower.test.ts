import { RealTimeProvider, composeTimestamp, keyRange } from '@regionstore/core';
import { mvccGet } from '@regionstore/engine';
import { ALL, EPOCH, b, failure, freshRegion, put, useCluster, until } from './helpers';

const cluster = useCluster('followers');
class LateClock extends RealTimeProvider {
  override now(): number {
    return Date.now() - 60_000;
  }
}

const FAST = { resolvedTsIntervalMs: 50, followerTailBlockMs: 50 };

describe('followers', () => {
  it('apply their leader’s writes on their own; a read at their safe ts sees every write at or below it', async () => {
    const leader = await cluster.node({ config: FAST });
    const follower = await cluster.node({ config: FAST });
    const region = freshRegion();
    await leader.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await leader.group.write({ regionId: region, mutations: [put('before', 'open')] });
    await follower.group.ddl(region, { type: 'open', range: ALL, epoch: EPOCH, role: 'Follower' });
    const writes = [];
    for (const i of [1, 2, 3])
      writes.push(await leader.group.write({ regionId: region, mutations: [put(`k${i}`, `v${i}`)] }));
    const copy = () => follower.group.getRegion(region)!;
    await until(() => copy().lastEntryId === 4, 'the follower to apply 4 entries');
    expect(copy().safeTs).toBeGreaterThanOrEqual(writes[2]!.commitTs);
    for (const i of [1, 2, 3])
      expect((await mvccGet(follower.engine, b(`k${i}`), copy().safeTs))?.toString()).toBe(`v${i}`);
    // Nothing a follower holds counts against its node's write buffer: only the leader flushes it.
    expect(follower.group.writeBuffer.memoryUsage).toBe(0);
    expect(leader.group.writeBuffer.memoryUsage).toBeGreaterThan(0);
  });

  it('move their safe ts past the last write while the leader is idle (its resolved ts)', async () => {
    const leader = await cluster.node({ config: FAST });
    const follower = await cluster.node({ config: FAST });
    const region = freshRegion();
    await leader.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    const written = await leader.group.write({ regionId: region, mutations: [put('a', '1')] });
    await follower.group.ddl(region, { type: 'open', range: ALL, epoch: EPOCH, role: 'Follower' });
    const later = composeTimestamp(Date.now() + 100);
    await until(() => follower.group.getRegion(region)!.safeTs > later, 'a resolved ts past the write');
    expect(follower.group.getRegion(region)!.lastEntryId).toBe(written.entryId);
  });

  it('never claim a safe ts the next leader commits at or below', async () => {
    const leader = await cluster.node({ config: FAST });
    const follower = await cluster.node({ config: FAST });
    const region = freshRegion();
    await leader.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await leader.group.write({ regionId: region, mutations: [put('a', '1')] });
    await follower.group.ddl(region, { type: 'open', range: ALL, epoch: EPOCH, role: 'Follower' });
    await until(() => follower.group.getRegion(region)!.resolved.ts > 0n, 'a resolved ts');
    const claimed = follower.group.getRegion(region)!.safeTs;
    await leader.group.setRoleStateGracefully(region, 'Follower');
    // A third node whose clock runs a minute late takes the region over: only the resolved ts it
    // finds in the WAL keeps its commits above what the follower claimed.
    const next = await cluster.node({ config: FAST, time: new LateClock() });
    await next.group.ddl(region, {
      type: 'open',
      range: ALL,
      epoch: { version: 1, confVer: 2 },
      role: 'Leader',
    });
    const write = await next.group.write({ regionId: region, mutations: [put('b', '2')] });
    expect(write.commitTs).toBeGreaterThan(claimed);
  });

  it('is promoted with only the WAL tail to apply and serves every acknowledged write', async () => {
    const leader = await cluster.node({ config: FAST });
    const follower = await cluster.node({ config: FAST });
    const region = freshRegion();
    await leader.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await follower.group.ddl(region, { type: 'open', range: ALL, epoch: EPOCH, role: 'Follower' });
    for (let i = 0; i < 20; i++)
      await leader.group.write({ regionId: region, mutations: [put(`k${i}`, `v${i}`)] });
    await leader.group.ddl(region, { type: 'flush' });
    await until(() => follower.group.getRegion(region)!.lastEntryId === 20, 'the follower to catch up');
    await leader.crash();
    const next = { version: 1, confVer: 2 };
    const done = await follower.group.ddl(region, { type: 'catchup', writable: true, epoch: next });
    expect(done.lastEntryId).toBe(20);
    for (let i = 0; i < 20; i++)
      expect((await mvccGet(follower.engine, b(`k${i}`)))?.toString()).toBe(`v${i}`);
    await follower.group.write({ regionId: region, mutations: [put('after', 'x')] });
    expect(follower.group.writeBuffer.memoryUsage).toBeGreaterThan(0);
  });

  it('reload after their leader truncates the region, instead of keeping what it dropped', async () => {
    const leader = await cluster.node({ config: FAST });
    const follower = await cluster.node({ config: FAST });
    const region = freshRegion();
    await leader.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await follower.group.ddl(region, { type: 'open', range: ALL, epoch: EPOCH, role: 'Follower' });
    await leader.group.write({ regionId: region, mutations: [put('gone', 'soon')] });
    await until(async () => (await mvccGet(follower.engine, b('gone'))) !== undefined, 'the write');
    await leader.group.ddl(region, { type: 'truncate' });
    await leader.group.write({ regionId: region, mutations: [put('kept', 'yes')] });
    const wal = await cluster.wal();
    const { incarnation } = await wal.position(region);
    await until(
      async () =>
        follower.group.getRegion(region)!.walIncarnation === incarnation &&
        (await mvccGet(follower.engine, b('kept'))) !== undefined,
      'the follower to reload and apply the next write',
    );
    expect(await mvccGet(follower.engine, b('gone'))).toBeUndefined();
  });

  it('refuse writes', async () => {
    const leader = await cluster.node({ config: FAST });
    const follower = await cluster.node({ config: FAST });
    const region = freshRegion();
    await leader.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await follower.group.ddl(region, { type: 'open', range: ALL, epoch: EPOCH, role: 'Follower' });
    expect(
      await failure(follower.group.write({ regionId: region, mutations: [put('x', '1')] })),
    ).toMatchObject({
      code: 'NotLeader',
    });
  });

  it('a copy from before a split, asked to follow the route’s narrower region, is opened again as asked', async () => {
    const leader = await cluster.node({ config: FAST });
    const follower = await cluster.node({ config: FAST });
    const region = freshRegion();
    await leader.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await leader.group.write({ regionId: region, mutations: [put('a', '1'), put('z', '1')] });
    await follower.group.ddl(region, { type: 'open', range: ALL, epoch: EPOCH, role: 'Follower' });
    // The follower's node was away while the split closed the parent's followers.
    const split = { version: 2, confVer: 1 };
    await leader.group.splitRegion(region, {
      splitKey: b('m'),
      child: freshRegion(),
      epoch: split,
      childEpoch: split,
    });
    const parent = keyRange('', 'm');
    await follower.group.ddl(region, { type: 'open', range: parent, epoch: split, role: 'Follower' });
    expect(follower.group.getRegion(region)).toMatchObject({ range: parent, epoch: split, role: 'Follower' });
    // An open from before the split, arriving late, changes nothing.
    expect(
      await failure(follower.group.ddl(region, { type: 'open', range: ALL, epoch: EPOCH, role: 'Follower' })),
    ).toMatchObject({ code: 'EpochNotMatch' });
    expect(follower.group.getRegion(region)!.range).toEqual(parent);
  });
});

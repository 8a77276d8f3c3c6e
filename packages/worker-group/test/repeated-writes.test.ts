import { ManualTimeProvider, RegionId, configureFailPoint, keyRange } from '@regionstore/core';
import { mvccGet } from '@regionstore/engine';
import { ALL, EPOCH, b, failure, freshRegion, put, useCluster } from './helpers';

const cluster = useCluster('repeated-writes');
const FAST = { resolvedTsIntervalMs: 50, followerTailBlockMs: 50 };
const NEXT = { version: 1, confVer: 2 };

async function until(check: () => boolean, what: string, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('writes re-sent with the same id', () => {
  it('are answered with the first answer, not applied again over a write made in between', async () => {
    const node = await cluster.node();
    const wal = await cluster.wal();
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: keyRange('', 'm'), epoch: EPOCH });
    const first = await node.group.write({ regionId: region, mutations: [put('k', 'old')], writeId: 'w-1' });
    await node.group.write({ regionId: region, mutations: [put('k', 'new')], writeId: 'w-2' });
    const again = await node.group.write({
      regionId: region,
      mutations: [put('k', 'old')],
      writeId: 'w-1',
      retry: true,
    });
    expect(again).toEqual(first);
    expect(await wal.lastEntryId(region)).toBe(2);
    expect((await mvccGet(node.engine, b('k')))?.toString()).toBe('new');
    // Writes without an id are applied each time, as before.
    await node.group.write({ regionId: region, mutations: [put('k', 'old')] });
    expect(await wal.lastEntryId(region)).toBe(3);
    // A region created after the node's clock moved on knows every write it ever took: a retry it
    // has not seen never landed.
    const created = freshRegion();
    await node.group.ddl(created, { type: 'create', range: keyRange('m', ''), epoch: EPOCH });
    const unseen = await node.group.write({
      regionId: created,
      mutations: [put('q', 'newest')],
      writeId: 'w-3',
      retry: true,
    });
    expect(unseen.entryId).toBe(1);
  });

  it('land once when the first append’s reply was lost and the copy arrives after it', async () => {
    const node = await cluster.node();
    const wal = await cluster.wal();
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    configureFailPoint('wal_append_reply_lost', '1*throw(connection reset)');
    const lost = await failure(
      node.group.write({ regionId: region, mutations: [put('k', 'v')], writeId: 'lost' }),
    );
    expect(lost).toMatchObject({ code: 'FailPoint' });
    const retried = await node.group.write({
      regionId: region,
      mutations: [put('k', 'v')],
      writeId: 'lost',
      retry: true,
    });
    expect(retried.entryId).toBe(1);
    expect(await wal.lastEntryId(region)).toBe(1);
  });

  it('land once when both copies come in one batch', async () => {
    const node = await cluster.node();
    const wal = await cluster.wal();
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    const copies = await Promise.all(
      [1, 2, 3].map(() =>
        node.group.write({ regionId: region, mutations: [put('k', 'v')], writeId: 'same', retry: true }),
      ),
    );
    expect(new Set(copies.map((c) => c.commitTs)).size).toBe(1);
    expect(await wal.lastEntryId(region)).toBe(1);
  });

  it('are known to a follower that took over, from the entries it applied', async () => {
    const leader = await cluster.node({ config: FAST });
    const follower = await cluster.node({ config: FAST });
    const region = freshRegion();
    await leader.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await follower.group.ddl(region, { type: 'open', range: ALL, epoch: EPOCH, role: 'Follower' });
    const first = await leader.group.write({ regionId: region, mutations: [put('k', 'a')], writeId: 'f-1' });
    await until(() => follower.group.getRegion(region)!.lastEntryId === 1, 'the follower to apply it');
    await leader.crash();
    await follower.group.ddl(region, { type: 'catchup', writable: true, epoch: NEXT });
    const again = await follower.group.write({
      regionId: region,
      mutations: [put('k', 'a')],
      writeId: 'f-1',
      retry: true,
    });
    expect(again).toEqual(first);
    expect(follower.group.getRegion(region)!.lastEntryId).toBe(1);
  });

  it('are known to a copy that replayed them from the WAL; one loaded from a flush cannot tell, until the window passed', async () => {
    const first = await cluster.node();
    const region = freshRegion();
    await first.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    const flushed = await first.group.write({
      regionId: region,
      mutations: [put('a', '1')],
      writeId: 'in-flush',
    });
    await first.group.ddl(region, { type: 'flush' });
    const replayed = await first.group.write({
      regionId: region,
      mutations: [put('b', '2')],
      writeId: 'in-wal',
    });
    await first.crash();

    const second = await cluster.node();
    await second.group.ddl(region, { type: 'open', range: ALL, epoch: NEXT, role: 'Leader' });
    const resend = (writeId: string, retry: boolean) =>
      second.group.write({
        regionId: region,
        mutations: [put('a', '1')],
        writeId,
        ...(retry ? { retry } : {}),
      });
    expect(await resend('in-wal', true)).toEqual(replayed);
    expect(await failure(resend('in-flush', true))).toMatchObject({
      code: 'ServerIsBusy',
      details: { outcome: 'unknown', final: true, writeId: 'in-flush' },
    });
    // A first attempt is no repeat, whatever the copy knows.
    expect((await resend('fresh', false)).entryId).toBe(3);
    await second.crash();

    // Past the window no client re-sends a write, so the copy knows every write that may come again.
    const later = await cluster.node({ time: new ManualTimeProvider(Date.now() + 60_000) });
    await later.group.ddl(region, {
      type: 'open',
      range: ALL,
      epoch: { version: 1, confVer: 3 },
      role: 'Leader',
    });
    const applied = await later.group.write({
      regionId: region,
      mutations: [put('a', '1')],
      writeId: 'in-flush',
      retry: true,
    });
    expect(applied.commitTs).not.toBe(flushed.commitTs);
    expect(applied.entryId).toBe(4);
  });

  it('go with the keys to a split’s child and to a merge’s target', async () => {
    const node = await cluster.node();
    const region = freshRegion();
    const child = new RegionId(21, region.regionNumber);
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    const right = await node.group.write({
      regionId: region,
      mutations: [put('x', '1')],
      writeId: 'to-child',
    });
    const split = { version: 2, confVer: 1 };
    await node.group.splitRegion(region, { splitKey: b('m'), child, epoch: split, childEpoch: split });
    const inChild = await node.group.write({
      regionId: child,
      mutations: [put('x', '1')],
      writeId: 'to-child',
      retry: true,
    });
    expect(inChild).toEqual(right);
    expect(node.group.getRegion(child)!.lastEntryId).toBe(0);

    const fromSource = await node.group.write({
      regionId: child,
      mutations: [put('y', '2')],
      writeId: 'to-source',
    });
    const merged = { version: 3, confVer: 1 };
    await node.group.mergeRegions(region, {
      source: child,
      sourceRange: keyRange('m', ''),
      sourceEpoch: split,
      epoch: merged,
    });
    const inTarget = await node.group.write({
      regionId: region,
      mutations: [put('y', '2')],
      writeId: 'to-source',
      retry: true,
    });
    expect(inTarget).toEqual(fromSource);
    expect((await mvccGet(node.engine, b('y')))?.toString()).toBe('2');
  });
});

import {
  RegionId,
  WRITE_ATTEMPT_MAX_AGE_MS,
  WRITE_RETRY_CLOCK_SLACK_MS,
  configureFailPoint,
  keyRange,
} from '@regionstore/core';
import { mvccGet } from '@regionstore/engine';
import { RedisLogStore } from '@regionstore/log-store';
import { ALL, EPOCH, b, failure, freshRegion, put, useCluster, type TestNode, until } from './helpers';

const cluster = useCluster('repeated-writes');
const FAST = { resolvedTsIntervalMs: 50, followerTailBlockMs: 50 };
const NEXT = { version: 1, confVer: 2 };

/** A copy of a write, re-sent by a client whose call began at `began` (an earlier attempt may have landed). */
const resend = (
  node: TestNode,
  regionId: RegionId,
  key: string,
  value: string,
  writeId: string,
  began: number,
) => node.group.write({ regionId, mutations: [put(key, value)], writeId, firstSentMs: began, retry: true });

/** A WAL whose appends count as confirmed on replicas only once acknowledged (as `replicas` mode). */
class ReplicatedWal extends RedisLogStore {
  override get confirmsOnReplicas(): boolean {
    return true;
  }
}

describe('writes re-sent with the same id', () => {
  it('are answered with the first answer, not applied again over a write made in between', async () => {
    const node = await cluster.node();
    const wal = await cluster.wal();
    const region = freshRegion();
    const began = Date.now();
    await node.group.ddl(region, { type: 'create', range: keyRange('', 'm'), epoch: EPOCH });
    const first = await node.group.write({ regionId: region, mutations: [put('k', 'old')], writeId: 'w-1' });
    await node.group.write({ regionId: region, mutations: [put('k', 'new')], writeId: 'w-2' });
    const again = await resend(node, region, 'k', 'old', 'w-1', began);
    expect(again).toEqual(first);
    expect(await wal.lastEntryId(region)).toBe(2);
    expect((await mvccGet(node.engine, b('k')))?.toString()).toBe('new');
    // An attempt of a call begun longer ago than a region remembers ids may follow a re-send the
    // region forgot: it cannot tell, though it was never marked a re-send.
    expect(
      await failure(
        node.group.write({
          regionId: region,
          mutations: [put('k', 'old')],
          writeId: 'w-old',
          firstSentMs: Date.now() - WRITE_ATTEMPT_MAX_AGE_MS - 1000,
        }),
      ),
    ).toMatchObject({ code: 'ServerIsBusy', details: { outcome: 'unknown', final: true } });
    // Writes without an id are applied each time, as before.
    await node.group.write({ regionId: region, mutations: [put('k', 'old')] });
    expect(await wal.lastEntryId(region)).toBe(3);
    // A region created after the node's clock moved on knows every write it ever took: a re-sent
    // write it has not seen never landed.
    const created = freshRegion();
    await node.group.ddl(created, { type: 'create', range: keyRange('m', ''), epoch: EPOCH });
    const unseen = await resend(node, created, 'q', 'newest', 'w-3', began);
    expect(unseen.entryId).toBe(1);
  });

  it('are known by part: a part of a committed write is answered, another write’s part is not', async () => {
    const node = await cluster.node();
    const wal = await cluster.wal();
    const region = freshRegion();
    const began = Date.now();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    const whole = await node.group.write({
      regionId: region,
      mutations: [put('a', '1'), put('z', '1')],
      writeId: 'call/0',
    });
    // The same call's other part (another region's keys, now routed here after a merge) is new.
    const sibling = await resend(node, region, 'q', '2', 'call/1', began);
    expect(sibling.entryId).toBe(2);
    // A part of `call/0` (a split spread it over two regions) was committed with it.
    const part = await resend(node, region, 'z', '1', 'call/0/1', began);
    expect(part).toEqual(whole);
    expect(await wal.lastEntryId(region)).toBe(2);
  });

  it('land once when the first append’s reply was lost and the copy arrives after it', async () => {
    const node = await cluster.node();
    const wal = await cluster.wal();
    const region = freshRegion();
    const began = Date.now();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    configureFailPoint('wal_append_reply_lost', '1*throw(connection reset)');
    const lost = await failure(
      node.group.write({ regionId: region, mutations: [put('k', 'v')], writeId: 'lost' }),
    );
    expect(lost).toMatchObject({ code: 'FailPoint' });
    const retried = await resend(node, region, 'k', 'v', 'lost', began);
    expect(retried.entryId).toBe(1);
    expect(await wal.lastEntryId(region)).toBe(1);
  });

  it('where appends wait for replicas, are answered only once an acknowledged append follows theirs', async () => {
    const node = await cluster.node({ walClass: ReplicatedWal });
    const region = freshRegion();
    const began = Date.now();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    configureFailPoint('wal_append_reply_lost', '1*throw(connection reset)');
    await failure(node.group.write({ regionId: region, mutations: [put('k', 'v')], writeId: 'lost' }));
    const lostAgain = () => resend(node, region, 'k', 'v', 'lost', began);
    // Read back from the primary, it may be there alone: not acknowledged on its own.
    expect(await failure(lostAgain())).toMatchObject({
      code: 'ServerIsBusy',
      details: { outcome: 'unknown' },
    });
    // With an append in the same batch, acknowledged after it.
    const [answered, other] = await Promise.all([
      lostAgain(),
      node.group.write({ regionId: region, mutations: [put('o', 'x')], writeId: 'other' }),
    ]);
    expect(answered.entryId).toBe(1);
    expect(other.entryId).toBe(2);
    expect((await lostAgain()).entryId).toBe(1);
  });

  it('land once when both copies come in one batch', async () => {
    const node = await cluster.node();
    const wal = await cluster.wal();
    const region = freshRegion();
    const began = Date.now();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    const copies = await Promise.all(
      ['same', 'same', 'same/0'].map((writeId) =>
        node.group.write({
          regionId: region,
          mutations: [put('k', 'v')],
          writeId,
          firstSentMs: began,
          retry: true,
        }),
      ),
    );
    expect(new Set(copies.map((c) => c.commitTs)).size).toBe(1);
    expect(await wal.lastEntryId(region)).toBe(1);
  });

  it('are known to a follower that took over, from the entries it applied', async () => {
    const leader = await cluster.node({ config: FAST });
    const follower = await cluster.node({ config: FAST });
    const region = freshRegion();
    const began = Date.now();
    await leader.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await follower.group.ddl(region, { type: 'open', range: ALL, epoch: EPOCH, role: 'Follower' });
    const first = await leader.group.write({ regionId: region, mutations: [put('k', 'a')], writeId: 'f-1' });
    await until(() => follower.group.getRegion(region)!.lastEntryId === 1, 'the follower to apply it');
    await leader.crash();
    await follower.group.ddl(region, { type: 'catchup', writable: true, epoch: NEXT });
    const again = await resend(follower, region, 'k', 'a', 'f-1', began);
    expect(again).toEqual(first);
    expect(follower.group.getRegion(region)!.lastEntryId).toBe(1);
  });

  it('are known to a copy that replayed them from the WAL; one loaded from a flush cannot tell about writes sent before it', async () => {
    const first = await cluster.node();
    const region = freshRegion();
    const began = Date.now();
    await first.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await first.group.write({ regionId: region, mutations: [put('a', '1')], writeId: 'in-flush' });
    await first.group.ddl(region, { type: 'flush' });
    const replayed = await first.group.write({
      regionId: region,
      mutations: [put('b', '2')],
      writeId: 'in-wal',
    });
    await first.crash();

    const second = await cluster.node();
    await second.group.ddl(region, { type: 'open', range: ALL, epoch: NEXT, role: 'Leader' });
    const copy = (writeId: string, firstSentMs?: number) =>
      second.group.write({
        regionId: region,
        mutations: [put('a', '1')],
        writeId,
        ...(firstSentMs === undefined ? {} : { firstSentMs, retry: true }),
      });
    expect(await copy('in-wal', began)).toEqual(replayed);
    expect(await failure(copy('in-flush', began))).toMatchObject({
      code: 'ServerIsBusy',
      details: { outcome: 'unknown', final: true, writeId: 'in-flush' },
    });
    // A first attempt is no repeat, whatever the copy knows.
    expect((await copy('fresh')).entryId).toBe(3);
    // Nor is a re-sent write whose call began after all that the copy loaded (clock slack included).
    expect((await copy('later', Date.now() + WRITE_RETRY_CLOCK_SLACK_MS + 1000)).entryId).toBe(4);
  });

  it('are not known to a copy reopened over its own data: it cannot tell about calls begun before', async () => {
    const node = await cluster.node();
    const region = freshRegion();
    const began = Date.now();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await node.group.write({ regionId: region, mutations: [put('k', 'a')], writeId: 'r-1' });
    // As a restarted node does: a new open over the engine's copy, which has every entry already, so
    // the replay (and the table) starts after them.
    await node.group.ddl(region, { type: 'close' });
    await node.group.ddl(region, { type: 'open', range: ALL, epoch: EPOCH, role: 'Leader' });
    const refused = await failure(resend(node, region, 'k', 'a', 'r-1', began));
    expect(refused).toMatchObject({ code: 'ServerIsBusy', details: { outcome: 'unknown', final: true } });
  });

  it('go with the keys to a split’s child and to a merge’s target', async () => {
    const node = await cluster.node();
    const region = freshRegion();
    const child = new RegionId(21, region.regionNumber);
    const began = Date.now();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    const right = await node.group.write({
      regionId: region,
      mutations: [put('x', '1')],
      writeId: 'to-child',
    });
    const split = { version: 2, confVer: 1 };
    await node.group.splitRegion(region, { splitKey: b('m'), child, epoch: split, childEpoch: split });
    const inChild = await resend(node, child, 'x', '1', 'to-child', began);
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
    const inTarget = await resend(node, region, 'y', '2', 'to-source', began);
    expect(inTarget).toEqual(fromSource);
    expect((await mvccGet(node.engine, b('y')))?.toString()).toBe('2');
  });
});

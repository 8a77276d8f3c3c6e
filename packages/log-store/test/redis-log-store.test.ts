import { RegionId, createRegistry, isRegionStoreError } from './support';
import { RedisLogStore, type WalEntry, type WalRetention } from '@regionstore/log-store';
import { useRedisNamespace } from '@regionstore/testing';

const ns = useRedisNamespace('log-store');
const b = (text: string) => Buffer.from(text);
const NODE_A = { nodeId: 'node-a', epoch: 1 };

async function store(): Promise<RedisLogStore> {
  return new RedisLogStore(await ns.connect('client'), { prefix: ns.prefix, metrics: createRegistry() });
}

async function readAll(log: RedisLogStore, region: RegionId, from: number, batchSize?: number) {
  const batches: WalEntry[][] = [];
  for await (const batch of log.read(region, from, batchSize ? { batchSize } : {})) batches.push(batch);
  return batches;
}

let next = 1;
const freshRegion = () => new RegionId(7, next++);

let commits = 0;
/** Commits a flush of `region` up to `uptoId` as node A, over the manifest committed before it. */
async function trim(log: RedisLogStore, region: RegionId, uptoId: number, retain?: WalRetention) {
  const previous = await log.committedManifest(region);
  const manifest = `m-${++commits}`;
  return log.commitFlush(region, {
    fence: NODE_A,
    manifest,
    previous,
    uptoId,
    ...(retain ? { retain } : {}),
  });
}

describe('RedisLogStore', () => {
  it('appends a batch in one call with consecutive ids and reads it back in order', async () => {
    const log = await store();
    const region = freshRegion();
    await log.setFence(region, NODE_A);
    expect(await log.lastEntryId(region)).toBe(0);
    expect(await log.append(region, [b('a'), b('b'), b('c')], NODE_A)).toBe(3);
    expect(await log.append(region, [b('d')], NODE_A)).toBe(4);
    expect(await log.append(region, [Buffer.from([0, 255, 1])], NODE_A)).toBe(5);
    expect(await log.lastEntryId(region)).toBe(5);
    const batches = await readAll(log, region, 1, 2);
    expect(batches.map((batch) => batch.map((e) => e.id))).toEqual([[1, 2], [3, 4], [5]]);
    const flat = batches.flat();
    expect(flat.slice(0, 4).map((e) => e.data.toString())).toEqual(['a', 'b', 'c', 'd']);
    expect(flat[4]!.data).toEqual(Buffer.from([0, 255, 1]));
    expect((await readAll(log, region, 4)).flat().map((e) => e.id)).toEqual([4, 5]);
    const upTo = [];
    for await (const batch of log.read(region, 2, { toId: 3 })) upTo.push(...batch.map((e) => e.id));
    expect(upTo).toEqual([2, 3]);
    expect(await readAll(log, region, 6)).toEqual([]);
  });

  it('keeps one region per hash slot and regions apart', async () => {
    const log = await store();
    const one = freshRegion();
    const two = freshRegion();
    expect(log.keys(one).log).toMatch(/\{\d+\}:log$/);
    expect(log.keys(one).meta.replace(':meta', '')).toBe(log.keys(one).log.replace(':log', ''));
    await log.setFence(one, NODE_A);
    await log.setFence(two, NODE_A);
    await log.append(one, [b('x')], NODE_A);
    expect(await log.append(two, [b('y'), b('z')], NODE_A)).toBe(2);
    expect((await readAll(log, one, 1)).flat().map((e) => e.data.toString())).toEqual(['x']);
  });

  it('rejects appends from a node the fence does not name, or at another epoch, with NotLeader', async () => {
    const log = await store();
    const region = freshRegion();
    await expect(log.append(region, [b('x')], NODE_A)).rejects.toMatchObject({ code: 'NotLeader' });
    await log.setFence(region, NODE_A);
    await log.append(region, [b('1')], NODE_A);
    // failover: the metasrv hands the region to node-b at epoch 2
    await log.setFence(region, { nodeId: 'node-b', epoch: 2 });
    const stale = log.append(region, [b('2')], NODE_A);
    await expect(stale).rejects.toMatchObject({ code: 'NotLeader', details: { leader: 'node-b', epoch: 2 } });
    await expect(log.append(region, [b('2')], { nodeId: 'node-b', epoch: 1 })).rejects.toMatchObject({
      code: 'NotLeader',
    });
    expect(await log.append(region, [b('2')], { nodeId: 'node-b', epoch: 2 })).toBe(2);
    expect((await readAll(log, region, 1)).flat().map((e) => e.data.toString())).toEqual(['1', '2']);
  });

  it('refuses a fence at an older epoch or for another node at the same epoch', async () => {
    const log = await store();
    const region = freshRegion();
    await log.setFence(region, { nodeId: 'node-b', epoch: 5 });
    for (const bad of [
      { nodeId: 'node-a', epoch: 4 },
      { nodeId: 'node-a', epoch: 5 },
    ]) {
      let caught: unknown;
      await log.setFence(region, bad).catch((err: unknown) => (caught = err));
      expect(isRegionStoreError(caught, 'EpochNotMatch')).toBe(true);
    }
    await log.setFence(region, { nodeId: 'node-b', epoch: 5 }); // idempotent
    await log.setFence(region, { nodeId: 'node-a', epoch: 6 });
    expect(await log.fence(region)).toEqual({ nodeId: 'node-a', epoch: 6 });
    await expect(log.setFence(region, { nodeId: '', epoch: 7 })).rejects.toMatchObject({
      code: 'InvalidArgument',
    });
  });

  it('trims obsolete entries, keeps ids going, and refuses to read from inside the trimmed part', async () => {
    const log = await store();
    const region = freshRegion();
    await log.setFence(region, NODE_A);
    await log.append(region, ['1', '2', '3', '4', '5'].map(b), NODE_A);
    await trim(log, region, 3);
    expect(await log.trimmedEntryId(region)).toBe(3);
    expect((await readAll(log, region, 4)).flat().map((e) => e.id)).toEqual([4, 5]);
    let caught: unknown;
    await readAll(log, region, 2).catch((err: unknown) => (caught = err));
    expect(isRegionStoreError(caught, 'NotFound')).toBe(true);
    expect((caught as Error).message).toContain('WAL entries 2..3');
    // trimming past the end stops at the last id; trimming backwards does nothing
    await trim(log, region, 100);
    expect(await log.trimmedEntryId(region)).toBe(5);
    await trim(log, region, 1);
    expect(await log.trimmedEntryId(region)).toBe(5);
    expect(await log.append(region, [b('6')], NODE_A)).toBe(6);
    expect((await readAll(log, region, 6)).flat().map((e) => e.data.toString())).toEqual(['6']);
  });

  it('commits a flush only under the fence and over the manifest it was built on', async () => {
    const log = await store();
    const region = freshRegion();
    await log.setFence(region, NODE_A);
    await log.append(region, ['1', '2', '3', '4'].map(b), NODE_A);
    expect(await log.committedManifest(region)).toBeUndefined();
    // A region with no committed manifest yet takes any (one listed before commits existed).
    expect(
      await log.commitFlush(region, { fence: NODE_A, manifest: 'm-a', previous: 'old', uptoId: 1 }),
    ).toBe(1);
    expect(await log.committedManifest(region)).toBe('m-a');
    // Built on a manifest that is no longer the committed one: refused, nothing trimmed.
    await expect(
      log.commitFlush(region, { fence: NODE_A, manifest: 'm-b', previous: 'old', uptoId: 2 }),
    ).rejects.toMatchObject({ code: 'Cancelled', details: { committed: 'm-a' } });
    // A node that lost the fence commits nothing, however long ago it checked.
    await log.setFence(region, { nodeId: 'node-b', epoch: 2 });
    await expect(
      log.commitFlush(region, { fence: NODE_A, manifest: 'm-c', previous: 'm-a', uptoId: 3 }),
    ).rejects.toMatchObject({ code: 'NotLeader', details: { leader: 'node-b' } });
    expect(await log.committedManifest(region)).toBe('m-a');
    expect(await log.trimmedEntryId(region)).toBe(1);
    const nodeB = { nodeId: 'node-b', epoch: 2 };
    expect(await log.commitFlush(region, { fence: nodeB, manifest: 'm-d', previous: 'm-a', uptoId: 3 })).toBe(
      3,
    );
    expect(await log.committedManifest(region)).toBe('m-d');
  });

  it('keeps for followers what they have not applied, down to the floor, and forgets silent ones', async () => {
    const log = await store();
    const region = freshRegion();
    await log.setFence(region, NODE_A);
    await log.append(
      region,
      Array.from({ length: 20 }, (_, i) => b(String(i + 1))),
      NODE_A,
    );
    const retain = (floorId: number, staleMs = 10_000) => ({ floorId, leader: 'node-a', staleMs });
    await log.reportFollowers('node-b', [{ regionId: region, afterId: 4 }]);
    await log.reportFollowers('node-c', [{ regionId: region, afterId: 9 }]);
    // The leader's own report (from when it followed) holds nothing back.
    await log.reportFollowers('node-a', [{ regionId: region, afterId: 1 }]);
    expect(await trim(log, region, 10, retain(0))).toBe(4);
    // Never below the floor: a follower further behind reloads from the flushes.
    expect(await trim(log, region, 12, retain(6))).toBe(6);
    await log.reportFollowers('node-b', [{ regionId: region, afterId: 15 }]);
    expect(await trim(log, region, 12, retain(6))).toBe(9);
    // Positions not reported again within staleMs are dropped: trims go up to the flush.
    await new Promise((r) => setTimeout(r, 60));
    expect(await trim(log, region, 12, retain(6, 50))).toBe(12);
    const redis = await ns.connect('client');
    expect(await redis.hkeys(log.keys(region).followers)).toEqual([]);
    // Without a retention, a trim ignores followers.
    await log.reportFollowers('node-b', [{ regionId: region, afterId: 13 }]);
    expect(await trim(log, region, 18)).toBe(18);
    await log.retire(region);
    expect(await redis.exists(log.keys(region).followers)).toBe(0);
  });

  /**
   * Reads `entries` appended entries from 1 in batches of 3, trimming through `trimTo` once the first
   * batch is in; the ids seen and the error the read ended with.
   */
  async function readWhileTrimming(entries: number, trimTo: number, toId?: number) {
    const log = await store();
    const region = freshRegion();
    await log.setFence(region, NODE_A);
    await log.append(
      region,
      Array.from({ length: entries }, (_, i) => b(String(i + 1))),
      NODE_A,
    );
    const seen: number[] = [];
    try {
      for await (const batch of log.read(region, 1, { batchSize: 3, ...(toId ? { toId } : {}) })) {
        seen.push(...batch.map((e) => e.id));
        if (seen.length === 3) await trim(log, region, trimTo);
      }
    } catch (err) {
      return { log, region, seen, caught: err as Error };
    }
    return { log, region, seen, caught: undefined };
  }

  it('fails a read whose next batch was trimmed while it was reading', async () => {
    const { seen, caught } = await readWhileTrimming(10, 6);
    expect(seen).toEqual([1, 2, 3]);
    expect(caught?.message).toContain('WAL entries 4..6');
  });

  it('fails a read whose rest up to its end was trimmed while it was reading, instead of ending short', async () => {
    // Everything the read still wants goes: its next range holds nothing at all.
    const { log, region, seen, caught } = await readWhileTrimming(8, 8, 6);
    expect(seen).toEqual([1, 2, 3]);
    expect(caught?.message).toContain('WAL entries 4..8');
    // A read past the end of a log nobody trimmed since ends quietly.
    const tail: number[] = [];
    for await (const batch of log.read(region, 9, { toId: 12 })) tail.push(...batch.map((e) => e.id));
    expect(tail).toEqual([]);
  });

  it('answers a resent append (same batch token) without appending it twice', async () => {
    const redis = await ns.connect('client');
    const log = new RedisLogStore(redis, { prefix: ns.prefix });
    const region = freshRegion();
    await log.setFence(region, NODE_A);
    const { log: stream, meta } = log.keys(region);
    const resend = () =>
      (redis as unknown as { rsWalAppend(...args: unknown[]): Promise<number> }).rsWalAppend(
        stream,
        meta,
        NODE_A.nodeId,
        String(NODE_A.epoch),
        'token-1',
        b('once'),
        b('twice?'),
      );
    expect(await resend()).toBe(2);
    expect(await resend()).toBe(2);
    expect(await log.append(region, [b('next')], NODE_A)).toBe(3);
    expect((await readAll(log, region, 1)).flat().map((e) => e.data.toString())).toEqual([
      'once',
      'twice?',
      'next',
    ]);
  });

  it('retire deletes the log for good: no fence, restore or fenced write brings it back', async () => {
    const log = await store();
    const region = freshRegion();
    await log.setFence(region, NODE_A);
    await log.append(region, [b('x'), b('y')], NODE_A);
    await log.retire(region);
    expect(await log.position(region)).toMatchObject({ lastEntryId: 0, retired: true });
    expect(await log.fence(region)).toBeUndefined();
    expect(await log.lastEntryId(region)).toBe(0);
    const refused = { code: 'RegionNotFound', details: { regionId: region.toString() } };
    // A node still acting on it (a split job that ran late) cannot take it again, at any epoch.
    await expect(log.setFence(region, NODE_A)).rejects.toMatchObject(refused);
    await expect(log.setFence(region, { nodeId: 'node-b', epoch: 9 })).rejects.toMatchObject(refused);
    await expect(log.restore(region, 5)).rejects.toMatchObject(refused);
    await expect(log.append(region, [b('z')], NODE_A)).rejects.toMatchObject({ code: 'NotLeader' });
    await expect(trim(log, region, 1)).rejects.toMatchObject({ code: 'NotLeader' });
    expect(await log.lastEntryId(region)).toBe(0);
    // Nor does a follower's report that lands late bring its positions back (a key leaked for good).
    await log.reportFollowers('node-b', [{ regionId: region, afterId: 2 }]);
    expect(await (await ns.connect('client')).exists(log.keys(region).followers)).toBe(0);
  });

  it("retire under a fence: only the fence's holder retires, a deposed one changes nothing", async () => {
    const log = await store();
    const region = freshRegion();
    await log.setFence(region, NODE_A);
    await log.append(region, [b('x')], NODE_A);
    const next = { nodeId: 'node-b', epoch: 2 };
    await log.setFence(region, next);
    await expect(log.retire(region, NODE_A)).rejects.toMatchObject({
      code: 'NotLeader',
      details: { leader: 'node-b', epoch: 2 },
    });
    const kept = await log.position(region);
    expect([kept.lastEntryId, kept.retired]).toEqual([1, undefined]);
    expect(await log.fence(region)).toEqual(next);
    await log.retire(region, next);
    expect(await log.position(region)).toMatchObject({ lastEntryId: 0, retired: true });
    // Retired already: no fence to hold.
    await expect(log.retire(region, next)).rejects.toMatchObject({ code: 'NotLeader' });
  });

  it('checks its arguments', async () => {
    const log = await store();
    const region = freshRegion();
    await expect(log.append(region, [b('x')], { nodeId: 'a', epoch: -1 })).rejects.toMatchObject({
      code: 'InvalidArgument',
    });
    await expect(readAll(log, region, 1.5)).rejects.toMatchObject({ code: 'InvalidArgument' });
  });
});

import { RegionId, isRegionStoreError } from './support';
import { RedisLogStore } from '@regionstore/log-store';
import { useRedisNamespace } from '@regionstore/testing';

const ns = useRedisNamespace('log-store-tail');
const b = (text: string) => Buffer.from(text);
const NODE_A = { nodeId: 'node-a', epoch: 1 };
const NODE_B = { nodeId: 'node-b', epoch: 2 };

const stores: RedisLogStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});
async function store(): Promise<RedisLogStore> {
  const log = new RedisLogStore(await ns.connect('client'), { prefix: ns.prefix });
  stores.push(log);
  return log;
}

let next = 1;
const freshRegion = () => new RegionId(9, next++);

describe('RedisLogStore for followers', () => {
  it('tails many regions in one read: entries after each cursor, regions with nothing new absent', async () => {
    const log = await store();
    const [one, two, idle] = [freshRegion(), freshRegion(), freshRegion()];
    for (const region of [one, two, idle]) await log.setFence(region, NODE_A);
    await log.append(one, [b('1a'), b('1b'), b('1c')], NODE_A);
    await log.append(two, [b('2a')], NODE_A);
    const found = await log.tail(
      [
        { regionId: one, afterId: 1 },
        { regionId: two, afterId: 0 },
        { regionId: idle, afterId: 0 },
      ],
      { blockMs: 100, count: 10 },
    );
    expect(found.get(one.value)!.map((e) => [e.id, e.data.toString()])).toEqual([
      [2, '1b'],
      [3, '1c'],
    ]);
    expect(found.get(two.value)!.map((e) => e.id)).toEqual([1]);
    expect(found.has(idle.value)).toBe(false);
  });

  it('waits for the next entry when there is none, and wakes as it is appended', async () => {
    const log = await store();
    const writer = await store();
    const region = freshRegion();
    await writer.setFence(region, NODE_A);
    const waiting = log.tail([{ regionId: region, afterId: 0 }], { blockMs: 5000, count: 10 });
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await writer.append(region, [b('x')], NODE_A);
    const found = await waiting;
    expect(found.get(region.value)!.map((e) => e.id)).toEqual([1]);
    expect(Date.now() - started).toBeLessThan(4000);
    expect((await log.tail([{ regionId: region, afterId: 1 }], { blockMs: 50, count: 10 })).size).toBe(0);
  });

  it('publishes a resolved ts only from the fenced leader, never backwards, with the entry it covers', async () => {
    const log = await store();
    const region = freshRegion();
    await log.setFence(region, NODE_A);
    await log.append(region, [b('a'), b('b')], NODE_A);
    await log.publishResolvedTs(region, 1000n, NODE_A);
    await log.publishResolvedTs(region, 900n, NODE_A);
    let position = (await log.followerPositions([region])).get(region.value)!;
    expect(position).toMatchObject({ lastEntryId: 2, resolvedTs: 1000n, resolvedEntryId: 2 });
    expect((await log.position(region)).resolvedTs).toBe(1000n);
    await log.setFence(region, NODE_B);
    let refused: unknown;
    try {
      await log.publishResolvedTs(region, 5000n, NODE_A);
    } catch (err) {
      refused = err;
    }
    expect(isRegionStoreError(refused, 'NotLeader')).toBe(true);
    position = (await log.followerPositions([region])).get(region.value)!;
    expect(position.resolvedTs).toBe(1000n);
  });

  it('names a new incarnation after a restore that keeps the entries (what a truncate does)', async () => {
    const log = await store();
    const region = freshRegion();
    await log.setFence(region, NODE_A);
    await log.append(region, [b('a')], NODE_A);
    const before = (await log.followerPositions([region])).get(region.value)!.incarnation;
    await log.restore(region, 1);
    const after = (await log.followerPositions([region])).get(region.value)!;
    expect(after.incarnation).not.toBe(before);
    expect(after.lastEntryId).toBe(1);
  });
});

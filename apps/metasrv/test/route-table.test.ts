import { RegionId, keyRange, rangeContains } from '@regionstore/core';
import { clusterKey } from '@regionstore/protocol';
import type { RegionRoute } from '@regionstore/supervisor';
import { useRedisNamespace } from '@regionstore/testing';
import { ClusterStore } from '../src/cluster-store';
import { RouteTable } from '../src/route-table';

const ns = useRedisNamespace('route-table');
const EPOCH = { version: 1, confVer: 1 };
const b = (s: string) => Buffer.from(s);

/** `n` regions over the key space, split at `k001`, `k002`, …; region i led by node-(i % 3). */
function routesOver(n: number): RegionRoute[] {
  const key = (i: number) => `k${String(i).padStart(3, '0')}`;
  return Array.from({ length: n }, (_, i) => ({
    regionId: new RegionId(1, i + 1),
    range: keyRange(i === 0 ? '' : key(i), i === n - 1 ? '' : key(i + 1)),
    leader: `node-${i % 3}`,
    followers: [`node-${(i + 1) % 3}`],
    epoch: EPOCH,
    state: 'Normal' as const,
  }));
}

describe('RouteTable', () => {
  it('finds the route of any key as a scan of every route would', () => {
    const routes = routesOver(100);
    const table = new RouteTable([...routes].reverse());
    for (const key of ['', 'a', 'k000', 'k001', 'k0015', 'k050', 'k099', 'k0999', 'k100', 'zzz']) {
      const scanned = routes.find((r) => rangeContains(r.range, b(key)));
      expect(table.forKey(b(key))?.regionId.toString()).toBe(scanned?.regionId.toString());
    }
    // A table with a hole (a region whose route is being rewritten): keys in it have no route.
    const holed = new RouteTable(routesOver(10).filter((r) => r.regionId.regionNumber !== 5));
    expect(holed.forKey(b('k0045'))).toBeUndefined();
    expect(holed.forKey(b('k005'))?.regionId.regionNumber).toBe(6);
  });

  it('lists the routes of one node, led or followed, and counts its leaders', () => {
    const table = new RouteTable(routesOver(9));
    expect(table.onNode('node-0').map((r) => r.regionId.regionNumber)).toEqual([1, 3, 4, 6, 7, 9]);
    expect(table.leaderCount('node-0')).toBe(3);
    expect(table.onNode('node-9')).toEqual([]);
  });

  it('hands out routes nobody can change: they are shared until the routes change', () => {
    const route = new RouteTable(routesOver(2)).routes[0]!;
    expect(() => {
      (route as { leader: string }).leader = 'node-9';
    }).toThrow(TypeError);
    expect(() => (route.followers as string[]).push('node-9')).toThrow(TypeError);
  });
});

describe('ClusterStore route reads', () => {
  /** A store whose reads of every route are counted (one MULTI each). */
  async function countingStore(prefix: string) {
    const redis = await ns.connect();
    let fullReads = 0;
    const counted = Object.create(redis) as typeof redis;
    counted.multi = ((...args: Parameters<typeof redis.multi>) => {
      fullReads++;
      return redis.multi(...args);
    }) as typeof redis.multi;
    const store = new ClusterStore(counted, prefix, 3000, () => 0);
    return { store, redis, fullReads: () => fullReads };
  }

  it('reads every route again only when one changed, whichever metasrv changed it', async () => {
    const prefix = `${ns.prefix}-cache`;
    const { store, fullReads } = await countingStore(prefix);
    // Another metasrv process (the leader) writes; this one serves reads.
    const writer = new ClusterStore(await ns.connect(), prefix, 3000, () => 0);
    for (const route of routesOver(30)) await writer.put(route);

    expect((await store.table()).routes).toHaveLength(30);
    const reads = fullReads();
    for (let i = 0; i < 20; i++) {
      expect((await store.table()).get(new RegionId(1, 7))?.leader).toBe('node-0');
      expect((await store.routeForKey(b('k0105')))?.regionId.regionNumber).toBe(11);
    }
    expect(fullReads()).toBe(reads); // nothing changed: one GET of the version each time

    await writer.update(new RegionId(1, 7), { leader: 'node-2' });
    expect((await store.table()).get(new RegionId(1, 7))?.leader).toBe('node-2');
    await writer.putMerge({ ...routesOver(30)[9]!, range: keyRange('k009', 'k011') }, new RegionId(1, 11));
    expect((await store.routeForKey(b('k0105')))?.regionId.regionNumber).toBe(10);
    expect(await store.routes()).toHaveLength(29);
    expect(fullReads()).toBe(reads + 2);
  });

  it('never serves a cached table after Redis lost the routes, nor before any version exists', async () => {
    const prefix = `${ns.prefix}-lost`;
    const { store, redis, fullReads } = await countingStore(prefix);
    for (const route of routesOver(5)) await store.put(route);
    expect(await store.routes()).toHaveLength(5);
    // Redis restarted without its data (or an operator deleted the keys).
    await redis.del(clusterKey(prefix, 'meta', 'routes'), clusterKey(prefix, 'meta', 'routes-version'));
    expect(await store.routes()).toEqual([]);
    // Routes written by a version without the version key: read whole every time, never cached.
    await redis.hset(
      clusterKey(prefix, 'meta', 'routes'),
      '1:1',
      JSON.stringify({ start: '', end: '', leader: 'node-0', epoch: EPOCH, state: 'Normal', followers: [] }),
    );
    const reads = fullReads();
    expect(await store.routes()).toHaveLength(1);
    expect(await store.routes()).toHaveLength(1);
    expect(fullReads()).toBe(reads + 2);
  });
});

import { RegionId, keyRange } from '@regionstore/core';
import { silentLogger } from '@regionstore/runtime';
import { metasrvLeaderKey } from '@regionstore/protocol';
import { useRedisNamespace } from '@regionstore/testing';
import { initialRanges } from '../src/bootstrap';
import { checkAdminExposure, metasrvConfigSchema } from '../src/config';
import { ClusterStore } from '../src/cluster-store';
import { LeaderLease } from '../src/leader-lease';

const ns = useRedisNamespace('metasrv-parts');
const b = (s: string) => Buffer.from(s);

describe('initialRanges', () => {
  it('splits the key space evenly by first byte into contiguous ranges', () => {
    const ranges = initialRanges(4);
    expect(ranges.map((r) => [r.start.toString('hex'), r.end.toString('hex')])).toEqual([
      ['', '40'],
      ['40', '80'],
      ['80', 'c0'],
      ['c0', ''],
    ]);
    expect(initialRanges(1)).toEqual([keyRange(Buffer.alloc(0), Buffer.alloc(0))]);
  });

  it('uses configured split keys, sorted and deduplicated', () => {
    expect(initialRanges(8, ['m', 'f', 'm']).map((r) => [r.start.toString(), r.end.toString()])).toEqual([
      ['', 'f'],
      ['f', 'm'],
      ['m', ''],
    ]);
  });
});

describe('LeaderLease', () => {
  const until = async (check: () => boolean) => {
    for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  };

  it('elects one leader, hands over when it stops, and stops leader work at once when the lease is lost', async () => {
    const redis = await ns.connect();
    const events: string[] = [];
    const lease = (id: string) =>
      new LeaderLease(
        redis,
        ns.key('leader'),
        id,
        600,
        {
          onElected: async () => void events.push(`${id} elected`),
          onLost: async () => void events.push(`${id} lost`),
        },
        silentLogger(),
      );
    const a = lease('a');
    const b2 = lease('b');
    a.start();
    await until(() => a.isLeader);
    b2.start();
    await new Promise((r) => setTimeout(r, 300));
    expect([a.isLeader, b2.isLeader]).toEqual([true, false]);

    await a.stop(); // gives the lease up
    await until(() => b2.isLeader);
    expect(b2.isLeader).toBe(true);

    // someone else holds the key now (the lease expired during a pause): b must notice on its next renewal
    await redis.set(ns.key('leader'), 'intruder', 'PX', 5000);
    await until(() => !b2.isLeader);
    expect(b2.isLeader).toBe(false);
    expect(events).toEqual(['a elected', 'a lost', 'b elected', 'b lost']);
    await b2.stop();
  });

  it('takes its own lease back at once after stepping down, and retries leader work that failed to start', async () => {
    const redis = await ns.connect();
    const key = ns.key('leader-retry');
    const events: string[] = [];
    const lease = new LeaderLease(
      redis,
      key,
      'a',
      300,
      {
        onElected: async () => {
          events.push('elected');
          if (events.length === 1) throw new Error('queue not reachable yet');
        },
        onLost: async () => void events.push('lost'),
      },
      silentLogger(),
    );
    // The key still names this instance with a long TTL left, as after a Redis outage that cost the
    // renewal but kept the key: waiting out the TTL would leave the cluster without a leader for a minute.
    await redis.set(key, 'a', 'PX', 60_000);
    lease.start();
    try {
      await until(() => lease.isLeader && events.length === 3);
      expect(events).toEqual(['elected', 'lost', 'elected']);
      expect(lease.isLeader).toBe(true);
      expect(Number(await redis.pttl(key))).toBeLessThanOrEqual(300);
    } finally {
      await lease.stop();
    }
  });
});

describe('ClusterStore', () => {
  it('keeps routes and nodes in Redis and tells alive from dead nodes by heartbeat age', async () => {
    const redis = await ns.connect();
    const now = 10_000;
    const store = new ClusterStore(redis, ns.prefix, 3000, () => now);
    const region = new RegionId(1, 0);
    await store.put({
      regionId: region,
      range: keyRange(b(''), b('m')),
      leader: 'n1',
      epoch: { version: 1, confVer: 1 },
      state: 'Normal',
    });
    await store.put({
      regionId: new RegionId(1, 1),
      range: keyRange(b('m'), b('')),
      leader: 'n2',
      epoch: { version: 1, confVer: 1 },
      state: 'Normal',
    });
    await store.update(region, { leader: 'n2', epoch: { version: 1, confVer: 2 } });
    expect(await store.get(region)).toMatchObject({ leader: 'n2', epoch: { confVer: 2 }, state: 'Normal' });
    expect((await store.routeForKey(b('zebra')))?.regionId.toString()).toBe('1:1');
    expect((await store.routes()).map((r) => r.regionId.toString())).toEqual(['1:0', '1:1']);

    await store.recordHeartbeat('n1', {
      address: 'http://n1',
      lastHeartbeatMs: 9000,
      regions: 0,
      leaders: 0,
    });
    await store.recordHeartbeat('n2', {
      address: 'http://n2',
      lastHeartbeatMs: 5000,
      regions: 2,
      leaders: 2,
    });
    expect((await store.nodes()).map((n) => [n.id, n.alive])).toEqual([
      ['n1', true],
      ['n2', false],
    ]);
    expect(await store.candidates()).toEqual([
      { id: 'n1', address: 'http://n1', alive: true, regionCount: 0, drained: false },
      { id: 'n2', address: 'http://n2', alive: false, regionCount: 2, drained: false },
    ]);
    // An operator's drain is kept in Redis, for every metasrv, until undrained.
    expect(await store.drain('n1', ['n1', 'n2'])).toBe(true);
    expect((await store.candidates()).map((n) => [n.id, n.drained])).toEqual([
      ['n1', true],
      ['n2', false],
    ]);
    // n1 is drained: n2, the last node left to place on, is not. Both at once: one of them only.
    expect(await store.drain('n2', ['n1', 'n2'])).toBe(false);
    await store.undrain('n1');
    const both = await Promise.all([store.drain('n1', ['n1', 'n2']), store.drain('n2', ['n1', 'n2'])]);
    expect(both.sort()).toEqual([false, true]);
    await store.undrain('n2');
    await store.undrain('n1');
    expect((await store.nodes()).map((n) => n.drained)).toEqual([false, false]);
    expect(await store.node('n3')).toBeUndefined();
    expect((await store.clientRoutes())[0]).toMatchObject({ leader: 'n2', address: 'http://n2' });
  });

  it('updates a route by compare-and-set: concurrent changes all land, and a split in between is never undone', async () => {
    const redis = await ns.connect();
    const store = new ClusterStore(redis, `${ns.prefix}-cas`, 3000, () => 0);
    const region = new RegionId(1, 5);
    const route = {
      regionId: region,
      range: keyRange(b('a'), b('z')),
      leader: 'n1',
      epoch: { version: 1, confVer: 1 },
      state: 'Normal' as const,
    };
    await store.put(route);
    // Two writers at once, one changing the state, one the followers: both read the route before
    // either writes, so read-then-write would keep only the last one's change
    await Promise.all([
      store.update(region, { state: 'Downgrading' }),
      store.update(region, { followers: ['f1'] }),
    ]);
    expect(await store.get(region)).toMatchObject({
      state: 'Downgrading',
      followers: ['f1'],
      range: route.range,
    });
    await store.update(region, { state: 'Normal', followers: [] });
    // A split narrows the route meanwhile: an update made for the old range does not land
    await store.putSplit(
      { ...route, range: keyRange(b('a'), b('m')), epoch: { version: 2, confVer: 1 } },
      {
        ...route,
        regionId: new RegionId(1, 6),
        range: keyRange(b('m'), b('z')),
        epoch: { version: 2, confVer: 1 },
      },
    );
    expect(await store.update(region, { followers: ['n3'] }, 1)).toBe(false);
    expect(await store.get(region)).toMatchObject({ range: keyRange(b('a'), b('m')), followers: [] });
    expect(await store.update(region, { followers: ['n3'] }, 2)).toBe(true);
    expect((await store.get(region))!.followers).toEqual(['n3']);
    expect(await store.update(new RegionId(1, 99), { state: 'Normal' })).toBe(false);
  });
});

describe('admin exposure', () => {
  it('writes routes only while the metasrv holds the leader key: a deposed one that resumes writes nothing', async () => {
    const redis = await ns.connect();
    const prefix = `${ns.prefix}-fenced`;
    const store = new ClusterStore(redis, prefix, 3000, () => 0, 'm1');
    const route = {
      regionId: new RegionId(1, 7),
      range: keyRange(b('a'), b('z')),
      leader: 'n1',
      epoch: { version: 1, confVer: 1 },
      state: 'Normal' as const,
    };
    await redis.set(metasrvLeaderKey(prefix), 'm1');
    await store.put(route);
    expect(await store.update(route.regionId, { leader: 'n2', epoch: { version: 1, confVer: 2 } })).toBe(
      true,
    );
    // Another instance took over (this one paused past its lease): every kind of route write is refused.
    await redis.set(metasrvLeaderKey(prefix), 'm2');
    const stale = { leader: 'n1', epoch: { version: 1, confVer: 1 } };
    await expect(store.update(route.regionId, stale)).rejects.toMatchObject({ code: 'NotLeader' });
    await expect(store.put({ ...route, ...stale })).rejects.toMatchObject({ code: 'NotLeader' });
    const child = { ...route, regionId: new RegionId(1, 8), range: keyRange(b('m'), b('z')) };
    await expect(store.putSplit({ ...route, range: keyRange(b('a'), b('m')) }, child)).rejects.toMatchObject({
      code: 'NotLeader',
    });
    await expect(store.putMerge(route, route.regionId)).rejects.toMatchObject({ code: 'NotLeader' });
    expect(await store.get(route.regionId)).toMatchObject({ leader: 'n2', epoch: { confVer: 2 } });
    expect(await store.get(child.regionId)).toBeUndefined();
    await redis.del(metasrvLeaderKey(prefix));
    await expect(store.update(route.regionId, stale)).rejects.toMatchObject({ code: 'NotLeader' });
  });

  it('refuses an admin API on a non-loopback address without a token', () => {
    expect(() => checkAdminExposure(metasrvConfigSchema.parse({ http: { host: '0.0.0.0' } }))).toThrow(
      /adminToken/,
    );
    expect(() =>
      checkAdminExposure(
        metasrvConfigSchema.parse({ http: { host: '0.0.0.0' }, adminToken: 'a-long-token' }),
      ),
    ).not.toThrow();
    expect(() => checkAdminExposure(metasrvConfigSchema.parse({}))).not.toThrow();
  });
});

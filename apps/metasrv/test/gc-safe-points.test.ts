import { composeTimestamp } from '@regionstore/core';
import { silentLogger } from '@regionstore/runtime';
import { metasrvLeaderKey } from '@regionstore/protocol';
import { useRedisNamespace } from '@regionstore/testing';
import { GcSafePoints } from '../src/gc-safe-points';

const ns = useRedisNamespace('metasrv-gc');

describe('GcSafePoints', () => {
  const setup = async (instanceId = 'leader', prefix = ns.prefix) => {
    let now = 10_000_000;
    const redis = await ns.connect();
    await redis.set(metasrvLeaderKey(prefix), 'leader');
    const gc = new GcSafePoints(
      redis,
      prefix,
      instanceId,
      { lifeTimeMs: 60_000, runIntervalMs: 1000 },
      silentLogger(),
      () => now,
    );
    // A node with our clock, heard from all along.
    const tick = (ms: number) => gc.nodeClocks.heard('node', (now += ms));
    tick(0);
    return { gc, redis, tick, now: () => now };
  };

  it('trails the clock by lifeTimeMs, moved by the leader only, and never moves back', async () => {
    const { gc, tick, now } = await setup();
    expect(await gc.advance()).toBe(composeTimestamp(now() - 60_000));
    tick(5000);
    expect(await gc.advance()).toBe(composeTimestamp(now() - 60_000));
    const standby = (await setup('standby')).gc;
    // A standby reads the leader's value and moves nothing.
    expect(await standby.advance()).toBe(gc.current);
    const status = await gc.status();
    expect(status).toMatchObject({ safePoint: gc.current, ageMs: 60_000, lifeTimeMs: 60_000, services: [] });
    // A clock that stepped back does not move it back.
    tick(-30_000);
    expect(await gc.advance()).toBe(composeTimestamp(now() + 30_000 - 60_000));
  });

  it('trails the earliest clock of the nodes heard from lately, not only its own', async () => {
    const { gc, tick, now } = await setup('leader', `${ns.prefix}-clocks`);
    const before = await gc.advance();
    expect(before).toBe(composeTimestamp(now() - 60_000));
    // A node whose clock is 10 s behind ours (or ours 10 s ahead of the nodes'): it sets the pace.
    gc.nodeClocks.heard('behind', now() - 10_000);
    gc.nodeClocks.heard('ahead', now() + 5_000);
    tick(15_000);
    expect(await gc.advance()).toBe(composeTimestamp(now() - 10_000 - 60_000));
    expect(gc.current).toBeGreaterThan(before);
    // A node not heard from for a minute holds nothing back.
    tick(61_000);
    expect(await gc.advance()).toBe(composeTimestamp(now() - 60_000));
  });

  it('is not moved by a leader that has heard from no node lately (just elected, or the nodes silent)', async () => {
    let now = 10_000_000;
    const prefix = `${ns.prefix}-unheard`;
    const redis = await ns.connect();
    await redis.set(metasrvLeaderKey(prefix), 'leader');
    const gc = new GcSafePoints(
      redis,
      prefix,
      'leader',
      { lifeTimeMs: 60_000, runIntervalMs: 1000 },
      silentLogger(),
      () => now,
    );
    expect(await gc.advance()).toBe(0n);
    gc.nodeClocks.heard('node', now);
    expect(await gc.advance()).toBe(composeTimestamp(now - 60_000));
    now += 61_000;
    expect(await gc.advance()).toBe(composeTimestamp(now - 61_000 - 60_000));
  });

  it('is loaded as Redis holds it by an instance that never moved it (a newly elected leader)', async () => {
    const { gc } = await setup();
    const moved = await gc.advance();
    const elected = (await setup('next')).gc;
    expect(elected.current).toBe(0n);
    expect(await elected.load()).toBe(moved);
    expect(elected.current).toBe(moved);
  });

  it('stops at the smallest unexpired service safepoint and refuses one below it', async () => {
    const { gc, tick, now } = await setup();
    await gc.advance();
    const held = composeTimestamp(now() - 50_000);
    await gc.register('backup:a', held, 20_000);
    await gc.register('feed', composeTimestamp(now() - 40_000), 100_000);
    tick(15_000);
    expect(await gc.advance()).toBe(held);
    expect((await gc.status()).services.map((s) => s.serviceId)).toEqual(['backup:a', 'feed']);
    await expect(gc.register('late', held - 1n, 10_000)).rejects.toMatchObject({
      code: 'TsTooOld',
      details: { safePoint: held.toString() },
    });
    // Past its TTL a service safepoint is dropped; the next one holds.
    tick(10_000);
    expect(await gc.advance()).toBe(composeTimestamp(now() - 25_000 - 40_000));
    expect((await gc.status()).services.map((s) => s.serviceId)).toEqual(['feed']);
    await gc.unregister('feed');
    expect(await gc.advance()).toBe(composeTimestamp(now() - 60_000));
  });

  it('holds a service safepoint until released, renewing it past its TTL', async () => {
    const { gc } = await setup();
    const realNow = Date.now();
    const live = new GcSafePoints(
      await ns.connect(),
      ns.prefix,
      'leader',
      { lifeTimeMs: 0, runIntervalMs: 1000 },
      silentLogger(),
    );
    live.nodeClocks.heard('node', Date.now());
    const held = await live.hold('backup:b', composeTimestamp(realNow), 300);
    await new Promise((r) => setTimeout(r, 700)); // two TTLs: renewed meanwhile
    expect((await gc.status()).services.map((s) => s.serviceId)).toEqual(['backup:b']);
    expect(await live.advance()).toBe(composeTimestamp(realNow));
    await held.release();
    expect((await gc.status()).services).toEqual([]);
    expect(await live.advance()).toBeGreaterThan(composeTimestamp(realNow));
  });

  it('a hold that lapsed (the holder paused past its TTL) fails its check once GC moved past it', async () => {
    const { gc, tick, now } = await setup();
    tick(Date.now() + 600_000 - now()); // past the safepoint the tests before left in Redis
    await gc.advance();
    const ts = composeTimestamp(now() - 50_000);
    const held = await gc.hold('backup:c', ts, 20_000);
    await held.check();
    // No renewal for longer than the TTL (a paused metasrv): the hold is dropped, GC moves past it.
    tick(60_000);
    expect(await gc.advance()).toBeGreaterThan(ts);
    await expect(held.check()).rejects.toMatchObject({ code: 'TsTooOld' });
    await held.release();
  });
});

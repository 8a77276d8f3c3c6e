import { clusterKey, metasrvLeaderKey } from '@regionstore/protocol';
import {
  ManualTimeProvider,
  RegionId,
  clearFailPoints,
  configureFailPoint,
  failPointHits,
  removeFailPoint,
} from '@regionstore/core';
import { MIGRATION_STEPS, RegionMigrationManager, type LeaseExpiry } from '@regionstore/supervisor';
import { useRedisNamespace } from '@regionstore/testing';
import type { Redis } from 'ioredis';
import { A, B, Cluster, RANGE } from './cluster-fake';

const ns = useRedisNamespace('migration');
const lockKey = (regionId: RegionId) => clusterKey(ns.prefix, 'migration-lock', regionId.toString());
afterEach(() => clearFailPoints());

let nextRegion = 1;
async function setup(
  redis: Redis,
  options: { time?: ManualTimeProvider; leases?: LeaseExpiry; followerOn?: typeof B } = {},
) {
  const cluster = new Cluster();
  const regionId = new RegionId(9, nextRegion++);
  cluster.addRegion(regionId, A);
  if (options.followerOn) {
    cluster.routes.get(regionId.toString())!.followers = [options.followerOn.id];
    cluster.regions.get(options.followerOn.id)!.set(regionId.toString(), 'Follower');
  }
  const manager = (c = cluster) =>
    new RegionMigrationManager({
      redis,
      keyPrefix: ns.prefix,
      routes: c,
      nodes: c,
      fences: c,
      retryBaseMs: 1,
      downgradeTimeoutMs: 50,
      ...(options.time ? { time: options.time } : {}),
      ...(options.leases ? { leases: options.leases } : {}),
    });
  return { cluster, regionId, manager };
}

describe('RegionMigrationManager', () => {
  let redis: Redis;
  beforeAll(async () => {
    redis = await ns.connect();
  });
  const make = (options: Parameters<typeof setup>[1] = {}) => setup(redis, options);

  it('moves a region: candidate opened, old leader downgraded, fence moved, candidate upgraded, route updated, old closed', async () => {
    const { cluster, regionId, manager } = await make();
    const m = manager();
    const id = await m.start({ regionId, fromPeer: A, toPeer: B, timeoutMs: 60_000 });
    expect(m.isMigrating(regionId)).toBe(true);
    const final = await m.wait(id);
    expect(final.status).toBe('Done');
    expect(cluster.calls).toEqual([
      'open node-b',
      'downgrade node-a',
      'fence node-b 2',
      'upgrade node-b 2',
      'close node-a',
    ]);
    // The downgrade names the placement it moves the region from: a copy moved on since refuses it.
    expect(cluster.downgradeEpochs).toEqual([{ version: 1, confVer: 1 }]);
    expect(cluster.endState(regionId)).toEqual({
      route: {
        regionId: regionId.toString(),
        range: RANGE,
        leader: B.id,
        epoch: { version: 1, confVer: 2 },
        state: 'Normal',
      },
      fence: { nodeId: B.id, epoch: 2 },
      onA: undefined,
      onB: 'Leader',
    });
    expect(m.isMigrating(regionId)).toBe(false);
    expect(await redis.exists(lockKey(regionId))).toBe(0);
    expect((await m.get(id)).status).toBe('Done');
  });

  /** The end state of a move from A onto B, B having followed the region: the copies swapped roles. */
  const swapped = (regionId: RegionId) => ({
    route: {
      regionId: regionId.toString(),
      range: RANGE,
      leader: B.id,
      followers: [A.id],
      epoch: { version: 1, confVer: 2 },
      state: 'Normal',
    },
    fence: { nodeId: B.id, epoch: 2 },
    onA: 'Follower',
    onB: 'Leader',
  });

  it("keeps the old leader as the follower when the region moves onto its follower's node", async () => {
    const { cluster, regionId, manager } = await make({ followerOn: B });
    const m = manager();
    const final = await m.wait(await m.start({ regionId, fromPeer: A, toPeer: B, timeoutMs: 60_000 }));
    expect(final.status).toBe('Done');
    // No close: the downgrade left A's copy following the WAL, and the route names it now
    expect(cluster.calls).toEqual(['open node-b', 'downgrade node-a', 'fence node-b 2', 'upgrade node-b 2']);
    expect(cluster.endState(regionId)).toEqual(swapped(regionId));
  });

  it('closes an old leader that did not downgrade even when the target was its follower (failover)', async () => {
    const { cluster, regionId, manager } = await make({ followerOn: B });
    cluster.deadNodes.add(A.id);
    const m = manager();
    const final = await m.wait(await m.start({ regionId, fromPeer: A, toPeer: B, timeoutMs: 60_000 }));
    expect(final.status).toBe('Done');
    expect(cluster.calls).toContain('close node-a');
    expect(cluster.endState(regionId).route.followers ?? []).not.toContain(A.id);
  });

  it('runs one procedure per region: a second submit fails with MigrationRunning', async () => {
    const { regionId, manager } = await make();
    const m = manager();
    configureFailPoint('region_migration_after_RegionMigrationStart', 'pause');
    const id = await m.start({ regionId, fromPeer: A, toPeer: B, timeoutMs: 60_000 });
    await expect(m.submit({ regionId, fromPeer: A, toPeer: B, timeoutMs: 60_000 })).rejects.toMatchObject({
      code: 'MigrationRunning',
    });
    // another metasrv sees the lock too
    await expect(
      manager().submit({ regionId, fromPeer: A, toPeer: B, timeoutMs: 60_000 }),
    ).rejects.toMatchObject({
      code: 'MigrationRunning',
    });
    removeFailPoint('region_migration_after_RegionMigrationStart');
    expect((await m.wait(id)).status).toBe('Done');
  });

  it('takes over a lock whose holder never saved a procedure (a metasrv died between the two)', async () => {
    const { regionId, manager } = await make();
    const lock = lockKey(regionId);
    await redis.set(lock, 'procedure-of-a-dead-metasrv');
    const m = manager();
    const id = await m.start({ regionId, fromPeer: A, toPeer: B, timeoutMs: 60_000 });
    expect((await m.wait(id)).status).toBe('Done');
    expect(await redis.exists(lock)).toBe(0);
  });

  it('a metasrv still running a procedure another one finished stops: it neither revives it nor frees a newer lock', async () => {
    const { cluster, regionId, manager } = await make();
    const stale = manager();
    configureFailPoint('region_migration_after_RegionMigrationStart', 'pause');
    const id = await stale.start({ regionId, fromPeer: A, toPeer: B, timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 50)); // paused after its first step
    // Meanwhile the new leader finished it, and a newer procedure took the region's lock.
    const key = clusterKey(ns.prefix, 'procedure', id);
    const finished = { ...JSON.parse((await redis.get(key))!), status: 'Done' };
    await redis
      .multi()
      .set(key, JSON.stringify(finished))
      .srem(clusterKey(ns.prefix, 'procedures', 'running'), id)
      .set(lockKey(regionId), 'newer')
      .exec();
    const callsBefore = cluster.calls.length;
    removeFailPoint('region_migration_after_RegionMigrationStart');
    await stale.wait(id);
    expect(cluster.calls.length).toBe(callsBefore); // no step after the refused save
    expect(JSON.parse((await redis.get(key))!).status).toBe('Done');
    expect(await redis.sismember(clusterKey(ns.prefix, 'procedures', 'running'), id)).toBe(0);
    expect(await redis.get(lockKey(regionId))).toBe('newer');
  });

  it('a deposed metasrv saves nothing and starts nothing once another instance holds the leader key', async () => {
    const { cluster, regionId } = await make();
    const leaderKey = metasrvLeaderKey(ns.prefix);
    const deposed = new RegionMigrationManager({
      redis,
      keyPrefix: ns.prefix,
      writer: 'm1',
      routes: cluster,
      nodes: cluster,
      fences: cluster,
      retryBaseMs: 1,
      downgradeTimeoutMs: 50,
    });
    await redis.set(leaderKey, 'm1');
    configureFailPoint('region_migration_after_RegionMigrationStart', 'pause');
    const id = await deposed.start({ regionId, fromPeer: A, toPeer: B, timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 50)); // paused after its first step
    const key = clusterKey(ns.prefix, 'procedure', id);
    const saved = await redis.get(key);
    await redis.set(leaderKey, 'm2'); // it paused past its lease; another instance leads
    const callsBefore = cluster.calls.length;
    removeFailPoint('region_migration_after_RegionMigrationStart');
    const final = await deposed.wait(id);
    // Left as saved, Running, for the leader to resume: no step ran after the refused save.
    expect(final.status).toBe('Running');
    expect(await redis.get(key)).toBe(saved);
    expect(cluster.calls.length).toBe(callsBefore);
    const other = new RegionId(9, nextRegion++);
    cluster.addRegion(other, A);
    await expect(
      deposed.start({ regionId: other, fromPeer: A, toPeer: B, timeoutMs: 60_000 }),
    ).rejects.toMatchObject({ code: 'NotLeader' });
    expect(await redis.exists(lockKey(other))).toBe(0);
    await redis.del(leaderKey);
  });

  it('fails with TableRouteNotFound for a region without a route', async () => {
    const { manager } = await make();
    await expect(
      manager().submit({ regionId: new RegionId(404, 1), fromPeer: A, toPeer: B, timeoutMs: 60_000 }),
    ).rejects.toMatchObject({ code: 'TableRouteNotFound' });
  });

  it('goes on without the old leader when it is dead (failover)', async () => {
    const { cluster, regionId, manager } = await make();
    cluster.deadNodes.add(A.id);
    const m = manager();
    const pid = await m.start({ regionId, fromPeer: A, toPeer: B, timeoutMs: 60_000 });
    const final = await m.wait(pid);
    expect(final.status).toBe('Done');
    expect(cluster.endState(regionId).route.leader).toBe(B.id);
    expect(cluster.endState(regionId).fence).toEqual({ nodeId: B.id, epoch: 2 });
  });

  it("upgrades the candidate only once the old leader's lease ran out when it did not downgrade", async () => {
    const expires = Date.now() + 400;
    const asked: string[] = [];
    const leases: LeaseExpiry = {
      remainingMs: (nodeId) => {
        asked.push(nodeId);
        return Math.max(0, expires - Date.now());
      },
    };
    const { cluster, regionId, manager } = await make({ leases });
    cluster.deadNodes.add(A.id);
    const upgradedAt: number[] = [];
    const upgrade = cluster.upgradeCandidate.bind(cluster);
    cluster.upgradeCandidate = async (...args) => {
      upgradedAt.push(Date.now());
      return upgrade(...args);
    };
    const m = manager();
    const final = await m.wait(await m.start({ regionId, fromPeer: A, toPeer: B, timeoutMs: 60_000 }));
    expect(final.status).toBe('Done');
    expect(asked).toContain(A.id);
    expect(upgradedAt[0]).toBeGreaterThanOrEqual(expires);
  });

  it('does not ask an old leader without a lease to downgrade (a failover then waits for nothing)', async () => {
    const { cluster, regionId, manager } = await make({ leases: { remainingMs: () => 0 } });
    cluster.deadNodes.add(A.id);
    const m = manager();
    const started = Date.now();
    const final = await m.wait(await m.start({ regionId, fromPeer: A, toPeer: B, timeoutMs: 60_000 }));
    expect(final).toMatchObject({ status: 'Done', context: { downgraded: false } });
    expect(cluster.calls).not.toContain(`downgrade ${A.id}`);
    expect(cluster.calls).toContain(`upgrade ${B.id} 2`);
    // the dead node's close is still asked for, and times out (50 ms here) without holding anything up
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('does not wait for the lease of an old leader that downgraded (the downgrade revoked it)', async () => {
    const { cluster, regionId, manager } = await make({ leases: { remainingMs: () => 3_600_000 } });
    const m = manager();
    const final = await m.wait(await m.start({ regionId, fromPeer: A, toPeer: B, timeoutMs: 60_000 }));
    expect(final).toMatchObject({ status: 'Done', context: { downgraded: true } });
    expect(cluster.endState(regionId).onB).toBe('Leader');
  });

  it('rolls back when the deadline passes before the fence moved', async () => {
    const time = new ManualTimeProvider(1000);
    const { cluster, regionId, manager } = await make({ time });
    cluster.failOpen = true;
    const m = manager();
    const id = await m.start({ regionId, fromPeer: A, toPeer: B, timeoutMs: 100 });
    for (let i = 0; i < 50 && (await m.get(id)).status === 'Running'; i++) await time.advance(50);
    const final = await m.wait(id);
    expect(final.status).toBe('Aborted');
    expect(final.step).toBe('UpdateMetadataRollback');
    expect(cluster.endState(regionId)).toMatchObject({
      route: { leader: A.id, state: 'Normal' },
      fence: { nodeId: A.id, epoch: 1 },
      onA: 'Leader',
    });
    expect(cluster.calls).toContain('close node-b');
  });

  it('a rollback takes the placement past the saved one first: a paused runner’s fence move to the target lands nowhere', async () => {
    const time = new ManualTimeProvider(1000);
    const { cluster, regionId, manager } = await make({ time });
    // The first runner saved the new epoch, then stopped inside its fence move (a long pause).
    let release!: () => void;
    const paused = new Promise<void>((r) => (release = r));
    let moveStarted = false;
    const setFence = cluster.setFence.bind(cluster);
    cluster.setFence = async (id, fence) => {
      if (fence.nodeId === B.id && !moveStarted) {
        moveStarted = true;
        await paused;
      }
      return setFence(id, fence);
    };
    const first = manager();
    const id = await first.start({ regionId, fromPeer: A, toPeer: B, timeoutMs: 1_000 });
    for (let i = 0; i < 200 && !moveStarted; i++) await new Promise((r) => setTimeout(r, 5));
    expect(moveStarted).toBe(true);
    expect((await first.get(id)).context).toMatchObject({ newEpoch: { confVer: 2 }, fenceMoved: false });
    const stopping = first.stop(); // leadership lost while paused
    await time.advance(5_000);

    const second = manager();
    expect(await second.resumeAll()).toContain(id);
    expect(await second.wait(id)).toMatchObject({ status: 'Aborted', step: 'UpdateMetadataRollback' });
    release(); // the paused move to the target at confVer 2 comes too late
    await stopping;
    expect(cluster.endState(regionId)).toMatchObject({
      route: { leader: A.id, epoch: { version: 1, confVer: 3 }, state: 'Normal' },
      fence: { nodeId: A.id, epoch: 3 },
    });
  });

  it('past the deadline with the fence moved, names the target that will not upgrade in the route, for failover to move on', async () => {
    const time = new ManualTimeProvider(1000);
    const { cluster, regionId, manager } = await make({ time });
    cluster.failUpgrade = true; // the target died once the fence named it
    const m = manager();
    const id = await m.start({ regionId, fromPeer: A, toPeer: B, timeoutMs: 10_000 });
    const fenceMoved = () => cluster.endState(regionId).fence?.nodeId === B.id;
    for (let i = 0; i < 200 && !fenceMoved(); i++) await new Promise((r) => setTimeout(r, 5));
    expect(fenceMoved()).toBe(true);
    expect((await m.get(id)).status).toBe('Running'); // retrying the upgrade, before the deadline
    for (let i = 0; i < 50 && (await m.get(id)).status === 'Running'; i++) await time.advance(500);
    const final = await m.wait(id);
    expect(final).toMatchObject({ status: 'Failed', step: 'UpgradeCandidateRegion' });
    expect(final.error).toMatch(/node-b did not take region .* failover moves the region on/);
    // route and fence agree on the target at the new epoch: the old leader stays cut off
    expect(cluster.endState(regionId)).toMatchObject({
      route: { leader: B.id, epoch: { version: 1, confVer: 2 }, state: 'Normal' },
      fence: { nodeId: B.id, epoch: 2 },
      onA: 'Follower',
    });
    // a failover of the target's regions can start at once: the region is no longer locked
    cluster.failUpgrade = false;
    const next = await m.start({ regionId, fromPeer: B, toPeer: A, timeoutMs: 60_000 });
    expect((await m.wait(next)).status).toBe('Done');
    expect(cluster.endState(regionId).route.leader).toBe(A.id);
  });

  it('an upgrade refused for good once the fence moved also names the target in the route: the old leader cannot write', async () => {
    const { cluster, regionId, manager } = await make();
    cluster.refuseUpgrade = true;
    const m = manager();
    const id = await m.start({ regionId, fromPeer: A, toPeer: B, timeoutMs: 60_000 });
    const final = await m.wait(id);
    expect(final).toMatchObject({ status: 'Failed', step: 'UpgradeCandidateRegion' });
    expect(final.error).toMatch(/upgrade on node-b refused; the route names node-b/);
    expect(cluster.endState(regionId)).toMatchObject({
      route: { leader: B.id, epoch: { version: 1, confVer: 2 }, state: 'Normal' },
      fence: { nodeId: B.id, epoch: 2 },
    });
  });

  const forward = MIGRATION_STEPS.filter((s) => s !== 'RegionMigrationEnd' && s !== 'UpdateMetadataRollback');

  /** A move from A to B whose runner dies right after `step`; a second runner resumes it. */
  async function dieAfterAndResume(step: string, options: Parameters<typeof setup>[1] = {}) {
    const made = await make(options);
    const point = `region_migration_after_${step}`;
    configureFailPoint(point, '1*pause');
    const first = made.manager();
    const id = await first.start({ regionId: made.regionId, fromPeer: A, toPeer: B, timeoutMs: 60_000 });
    for (let i = 0; i < 200 && failPointHits(point) === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(failPointHits(point)).toBe(1);
    const stopping = first.stop(); // leadership lost: halt at once
    removeFailPoint(point);
    await stopping;
    expect((await first.get(id)).status).toBe('Running');
    const second = made.manager();
    expect(await second.resumeAll()).toContain(id);
    expect((await second.wait(id)).status).toBe('Done');
    return made;
  }

  it.each(forward)(
    'resumes on a new leader after the runner dies right after %s, to the same end state',
    async (step) => {
      const { cluster, regionId } = await dieAfterAndResume(step);
      expect(cluster.endState(regionId)).toEqual({
        route: {
          regionId: regionId.toString(),
          range: RANGE,
          leader: B.id,
          epoch: { version: 1, confVer: 2 },
          state: 'Normal',
        },
        fence: { nodeId: B.id, epoch: 2 },
        onA: undefined,
        onB: 'Leader',
      });
    },
  );

  it.each(forward.filter((s) => s !== 'CloseDowngradedRegion'))(
    'resumes a move onto the follower after the runner dies right after %s: the copies still swap',
    async (step) => {
      const { cluster, regionId } = await dieAfterAndResume(step, { followerOn: B });
      expect(cluster.calls).not.toContain('close node-a');
      expect(cluster.endState(regionId)).toEqual(swapped(regionId));
    },
  );
});

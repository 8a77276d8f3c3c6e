import { clusterKey } from '@regionstore/protocol';
import {
  ManualTimeProvider,
  RegionNotFoundError,
  RegionId,
  clearFailPoints,
  configureFailPoint,
  keyRange,
  removeFailPoint,
} from '@regionstore/core';
import {
  MergeChecker,
  RegionMigrationManager,
  SplitChecker,
  type Peer,
  type RegionRoute,
  type MergeRegionsRequest,
  type SplitRegionRequest,
  type SplitState,
} from '@regionstore/supervisor';
import { useRedisNamespace } from '@regionstore/testing';
import type { Redis } from 'ioredis';
import { A, B, Cluster, RANGE } from './cluster-fake';

const ns = useRedisNamespace('split');
const lockKey = (regionId: RegionId) => clusterKey(ns.prefix, 'migration-lock', regionId.toString());
afterEach(() => clearFailPoints());

/** The fake cluster, with what a split asks of routes, nodes and the object store. */
class SplitCluster extends Cluster {
  nextRegionNumber = 100;
  middle: Buffer | undefined = Buffer.from('g');
  /** The epoch version of each region's latest flush, as the node's split leaves it. */
  readonly flushed = new Map<string, number>();
  readonly splits: SplitRegionRequest[] = [];
  alive = new Set([A.id, B.id]);
  /** The leader's split job times out (a dead or cut-off node). */
  splitTimesOut = false;
  /** The leader's split job never answers (a stopped node: only a timeout of minutes would end it). */
  splitHangs = false;

  async allocateRegionId(tableId: number) {
    return new RegionId(tableId, this.nextRegionNumber++);
  }
  async putSplit(parent: RegionRoute, child: RegionRoute) {
    this.calls.push(`routes ${parent.regionId.toString()} ${child.regionId.toString()}`);
    this.routes.set(parent.regionId.toString(), parent);
    this.routes.set(child.regionId.toString(), child);
  }
  /** The leader's answer to a split-key ask: never (a dead node), or this error. */
  splitKeyHangs = false;
  splitKeyFails: Error | undefined;
  async splitKey(peer: Peer) {
    this.calls.push(`split-key ${peer.id}`);
    if (this.splitKeyHangs) return new Promise<never>(() => undefined);
    if (this.splitKeyFails) throw this.splitKeyFails;
    return this.middle;
  }
  async splitRegion(peer: Peer, request: SplitRegionRequest) {
    this.calls.push(`split ${peer.id} at ${request.splitKey.toString()} → ${request.child.toString()}`);
    this.splits.push(request);
    if (this.splitTimesOut) throw new Error(`split-region on ${peer.id} did not finish`);
    if (this.splitHangs) return new Promise<never>(() => undefined); // a stopped node never answers
    this.flushed.set(request.regionId.toString(), request.newEpoch.version);
    return { lastEntryId: 7 };
  }
  readonly merges: MergeRegionsRequest[] = [];
  readonly retired: string[] = [];
  async putMerge(target: RegionRoute, source: RegionId) {
    this.calls.push(`routes ${target.regionId.toString()} -${source.toString()}`);
    this.routes.set(target.regionId.toString(), target);
    this.routes.delete(source.toString());
  }
  /** Retirements that fail before one succeeds. */
  retireFailures = 0;
  async retireRegion(regionId: RegionId) {
    this.calls.push(`retire ${regionId.toString()}`);
    if (this.retireFailures-- > 0) throw new Error('object store unreachable');
    this.retired.push(regionId.toString());
  }
  /** The leader's merge job times out (a dead or cut-off node). */
  mergeTimesOut = false;
  async mergeRegions(peer: Peer, request: MergeRegionsRequest) {
    this.calls.push(`merge ${peer.id} ${request.source.toString()} → ${request.target.toString()}`);
    this.merges.push(request);
    if (this.mergeTimesOut) throw new Error(`merge-regions on ${peer.id} did not finish`);
    this.flushed.set(request.target.toString(), request.epoch.version);
    return { lastEntryId: 9 };
  }
  async peer(id: string) {
    return [A, B].find((p) => p.id === id);
  }
  async isAlive(id: string) {
    return this.alive.has(id);
  }
  async flushedEpochVersion(regionId: RegionId) {
    return this.flushed.get(regionId.toString());
  }
}

let nextRegion = 1;
function setup(redis: Redis, time?: ManualTimeProvider) {
  const cluster = new SplitCluster();
  const regionId = new RegionId(9, nextRegion++);
  cluster.addRegion(regionId, A);
  const ended: string[] = [];
  const manager = () =>
    new RegionMigrationManager({
      redis,
      keyPrefix: ns.prefix,
      routes: cluster,
      nodes: cluster,
      fences: cluster,
      retryBaseMs: 1,
      onRangeProcedureEnded: (ids) => ended.push(...ids.map((id) => id.toString())),
      split: {
        routes: cluster,
        nodes: cluster,
        observers: {
          node: (id) => cluster.peer(id),
          isAlive: (id) => cluster.isAlive(id),
          flushedEpochVersion: (regionId) => cluster.flushedEpochVersion(regionId),
        },
      },
      ...(time ? { time } : {}),
    });
  return { cluster, regionId, manager, ended };
}

/** A split asked by hand at `key`, as it ended. */
async function splitAt(m: RegionMigrationManager, regionId: RegionId, key: string) {
  return m.wait(
    await m.startSplit({ regionId, splitKey: Buffer.from(key), reason: 'manual', timeoutMs: 60_000 }),
  );
}

/** Starts a split at `k` (deadline 5 s) whose node job never finishes; resolves once it was sent. */
async function stalledSplit(m: RegionMigrationManager, cluster: SplitCluster, regionId: RegionId) {
  cluster.splitTimesOut = true;
  const id = await m.startSplit({ regionId, splitKey: Buffer.from('k'), reason: 'size', timeoutMs: 5_000 });
  while (cluster.splits.length === 0) await new Promise((r) => setTimeout(r, 5));
  return id;
}

describe('region split procedure', () => {
  let redis: Redis;
  beforeAll(async () => {
    redis = await ns.connect();
  });

  it('refuses splits and merges without the snapshot storage a dead leader is judged by, locking nothing', async () => {
    const { cluster, regionId } = setup(redis);
    const bare = new RegionMigrationManager({
      redis,
      keyPrefix: ns.prefix,
      routes: cluster,
      nodes: cluster,
      fences: cluster,
    });
    await expect(bare.startSplit({ regionId, reason: 'manual', timeoutMs: 60_000 })).rejects.toMatchObject({
      code: 'InvalidArgument',
      message: expect.stringMatching(/snapshotStorage/),
    });
    await expect(
      bare.startMerge({ regionId, source: new RegionId(1, 99), reason: 'manual', timeoutMs: 60_000 }),
    ).rejects.toMatchObject({ code: 'InvalidArgument', message: expect.stringMatching(/snapshotStorage/) });
    expect(bare.isMigrating(regionId)).toBe(false);
  });

  it('asks the leader for a middle key, splits there, closes the old followers, then writes both routes at the new epoch', async () => {
    const { cluster, regionId, manager } = setup(redis);
    await cluster.update(regionId, { followers: [B.id] });
    const m = manager();
    const id = await m.startSplit({ regionId, reason: 'manual', timeoutMs: 60_000 });
    const final = (await m.wait(id)) as SplitState;
    expect(final.status).toBe('Done');
    const child = new RegionId(9, 100);
    expect(final.context.childId).toBe(child.toString());
    expect(cluster.calls).toEqual([
      `split-key ${A.id}`,
      `split ${A.id} at g → ${child.toString()}`,
      `close ${B.id}`,
      `routes ${regionId.toString()} ${child.toString()}`,
    ]);
    expect(cluster.splits[0]).toMatchObject({
      range: RANGE,
      epoch: { version: 1, confVer: 1 },
      newEpoch: { version: 2, confVer: 1 },
      childEpoch: { version: 2, confVer: 1 },
    });
    expect(cluster.routes.get(regionId.toString())).toMatchObject({
      range: keyRange('a', 'g'),
      leader: A.id,
      epoch: { version: 2, confVer: 1 },
      followers: [],
    });
    expect(cluster.routes.get(child.toString())).toMatchObject({
      range: keyRange('g', 'm'),
      leader: A.id,
      epoch: { version: 2, confVer: 1 },
      state: 'Normal',
    });
    // Saved with the key as base64, read back as bytes.
    expect(((await m.get(id)) as SplitState).context.splitKey).toEqual(Buffer.from('g'));
    expect(m.isMigrating(regionId)).toBe(false);
  });

  it('splits at the key given; refuses one outside the region, a region too small, and a second procedure', async () => {
    const { cluster, regionId, manager } = setup(redis);
    await cluster.update(regionId, { followers: [B.id] });
    cluster.alive.delete(B.id); // a dead follower's copy is closed when its node comes back
    const m = manager();
    configureFailPoint('region_split_after_SplitStart', 'pause');
    const id = await m.startSplit({
      regionId,
      splitKey: Buffer.from('c'),
      reason: 'manual',
      timeoutMs: 60_000,
    });
    // While it runs, its region and the child it allocated are busy: no migration, no other split.
    await new Promise((r) => setTimeout(r, 50));
    expect(m.isMigrating(new RegionId(9, 100))).toBe(true);
    await expect(m.submit({ regionId, fromPeer: A, toPeer: B, timeoutMs: 60_000 })).rejects.toMatchObject({
      code: 'MigrationRunning',
    });
    removeFailPoint('region_split_after_SplitStart');
    expect((await m.wait(id)).status).toBe('Done');
    expect(cluster.calls).not.toContain(`split-key ${A.id}`);
    expect(cluster.calls).not.toContain(`close ${B.id}`);
    expect(cluster.routes.get(regionId.toString())!.range).toEqual(keyRange('a', 'c'));

    expect(await splitAt(m, regionId, 'z')).toMatchObject({
      status: 'Failed',
      error: expect.stringMatching(/split key "z" is not inside region 9:\d+ \["a", "c"\)/),
    });
    cluster.middle = undefined;
    const small = await m.startSplit({ regionId, reason: 'size', timeoutMs: 60_000 });
    expect(await m.wait(small)).toMatchObject({
      status: 'Failed',
      error: expect.stringMatching(/too little/),
    });
  });

  it('ends a split Failed at its start, holding nothing, when the leader asked for the key is dead or lost the region', async () => {
    const time = new ManualTimeProvider(1_000);
    const { cluster, regionId, manager } = setup(redis, time);
    const m = manager();
    /** Lets the procedure's checks a second apart run, until it ends. */
    const ended = async (id: string) => {
      const done = m.wait(id);
      for (let i = 0; i < 20 && (await m.get(id)).status === 'Running'; i++) {
        await time.advance(1_000);
        await new Promise((r) => setTimeout(r, 20));
      }
      return done;
    };
    // A leader seen dead once (a metasrv just elected has heard no heartbeat yet) is checked again.
    cluster.alive.delete(A.id);
    const late = await m.startSplit({
      regionId,
      splitKey: Buffer.from('c'),
      reason: 'manual',
      timeoutMs: 60_000,
    });
    await new Promise((r) => setTimeout(r, 20));
    cluster.alive.add(A.id);
    expect(await ended(late)).toMatchObject({ status: 'Done' });
    // Sent to a dead leader, the split is refused on its state alone.
    cluster.alive.delete(A.id);
    const refused = await m.startSplit({
      regionId,
      splitKey: Buffer.from('b'),
      reason: 'manual',
      timeoutMs: 60_000,
    });
    expect(await ended(refused)).toMatchObject({
      status: 'Failed',
      error: expect.stringMatching(/not alive/),
    });
    // The leader dies while it is asked for the key: its job is never answered.
    cluster.alive.add(A.id);
    cluster.splitKeyHangs = true;
    const dead = await m.startSplit({ regionId, reason: 'size', timeoutMs: 60_000 });
    while (!cluster.calls.includes(`split-key ${A.id}`)) await new Promise((r) => setTimeout(r, 5));
    cluster.alive.delete(A.id);
    expect(await ended(dead)).toMatchObject({
      status: 'Failed',
      error: expect.stringMatching(/leader node-a is dead/),
    });
    expect(m.isMigrating(regionId)).toBe(false); // failover and reopening may go on
    // Restarted, the node does not have the region open yet: no retry brings it back while it is held.
    cluster.alive.add(A.id);
    cluster.splitKeyHangs = false;
    cluster.splitKeyFails = new RegionNotFoundError(`region ${regionId.toString()} is not open on node-a`);
    const reopened = await m.startSplit({ regionId, reason: 'size', timeoutMs: 60_000 });
    expect(await m.wait(reopened)).toMatchObject({
      status: 'Failed',
      error: expect.stringMatching(/not open as leader on node-a/),
    });
    expect(m.isMigrating(regionId)).toBe(false);
    expect(cluster.splits).toHaveLength(1); // only the one whose leader answered again
  });

  it('a new metasrv leader resumes a split from its saved step and finishes it once', async () => {
    const { cluster, regionId, manager } = setup(redis);
    const first = manager();
    configureFailPoint('region_split_after_SplitLeaderRegion', 'pause');
    const id = await first.startSplit({
      regionId,
      splitKey: Buffer.from('h'),
      reason: 'manual',
      timeoutMs: 60_000,
    });
    await new Promise((r) => setTimeout(r, 50));
    const stopping = first.stop(); // leadership lost after the node split, before the routes
    removeFailPoint('region_split_after_SplitLeaderRegion');
    await stopping;
    const second = manager();
    expect(await second.resumeAll()).toEqual([id]);
    expect((await second.wait(id)).status).toBe('Done');
    // The node split ran again (it answers a repeated split as before); the routes were written once.
    expect(cluster.calls.filter((c) => c.startsWith('routes'))).toHaveLength(1);
    expect(cluster.routes.get(regionId.toString())!.range).toEqual(keyRange('a', 'h'));
  });

  it('a leader dead past the deadline: no split when its flushes are still whole, the routes when they are split', async () => {
    const time = new ManualTimeProvider(1_000);
    for (const flushedSplit of [false, true]) {
      const { cluster, regionId, manager, ended } = setup(redis, time);
      const m = manager();
      const id = await stalledSplit(m, cluster, regionId);
      // A live leader is waited for, however long; a dead one is judged by its flushes.
      await time.advance(10_000);
      expect((await m.get(id)).status).toBe('Running');
      if (flushedSplit) {
        cluster.flushed.set(regionId.toString(), 2);
        cluster.flushed.set(cluster.splits[0]!.child.toString(), 2);
      }
      cluster.alive.delete(A.id);
      cluster.retireFailures = 1; // the clean-up is retried: the split stays Running until it is done
      await time.advance(5_000);
      const done = m.wait(id);
      while ((await m.get(id)).status === 'Running') await time.advance(2_000);
      const final = await done;
      if (flushedSplit) {
        expect(final.status).toBe('Done');
        expect(cluster.routes.get(regionId.toString())!.range).toEqual(keyRange('a', 'k'));
        // Done too: the dead leader's detectors, dropped while the split held the regions, come back.
        expect(ended).toEqual([regionId.toString(), cluster.splits[0]!.child.toString()]);
      } else {
        expect(final).toMatchObject({ status: 'Aborted', error: expect.stringMatching(/died before/) });
        expect(cluster.routes.get(regionId.toString())!.range).toEqual(RANGE);
        expect(cluster.calls.some((c) => c.startsWith('routes'))).toBe(false);
        // Its failure detectors were dropped while it ran: the supervisor watches the leaders again.
        expect(ended).toEqual([regionId.toString(), cluster.splits[0]!.child.toString()]);
        // The child no route names is deleted (its WAL, any flush of it), the parent is not.
        expect(cluster.retired).toEqual([cluster.splits[0]!.child.toString()]);
        expect(cluster.calls.filter((c) => c.startsWith('retire'))).toHaveLength(2);
      }
    }
  });

  it('cuts a dead leader off the parent’s WAL before reading its flushes; the routes name the placement past that fence', async () => {
    const time = new ManualTimeProvider(1_000);
    for (const flushedSplit of [false, true]) {
      const { cluster, regionId, manager } = setup(redis, time);
      // What the parent's fence was each time the procedure read a flush: a paused leader that
      // resumed after the verdict could otherwise still commit the split's flush.
      const fenceAtRead: unknown[] = [];
      const read = cluster.flushedEpochVersion.bind(cluster);
      cluster.flushedEpochVersion = async (id) => {
        fenceAtRead.push(cluster.fences.get(regionId.toString()));
        return read(id);
      };
      const m = manager();
      const id = await stalledSplit(m, cluster, regionId);
      const child = cluster.splits[0]!.child.toString();
      if (flushedSplit) {
        cluster.flushed.set(regionId.toString(), 2);
        cluster.flushed.set(child, 2);
      }
      cluster.alive.delete(A.id);
      const done = m.wait(id);
      while ((await m.get(id)).status === 'Running') await time.advance(2_000);
      const final = await done;
      expect(fenceAtRead.length).toBeGreaterThan(0);
      for (const fence of fenceAtRead) expect(fence).toEqual({ nodeId: A.id, epoch: 2 });
      expect(final).toMatchObject({ fencedOut: true });
      if (flushedSplit) {
        expect(final.status).toBe('Done');
        expect(cluster.routes.get(regionId.toString())).toMatchObject({
          range: keyRange('a', 'k'),
          epoch: { version: 2, confVer: 2 },
        });
        // The child's WAL was not fenced: its leader stays the one its fence names.
        expect(cluster.routes.get(child)!.epoch).toEqual({ version: 2, confVer: 1 });
      } else {
        expect(final.status).toBe('Aborted');
        expect(cluster.routes.get(regionId.toString())).toMatchObject({
          range: RANGE,
          leader: A.id,
          epoch: { version: 1, confVer: 2 },
        });
      }
    }
  });

  it('stops waiting on a dead leader’s split job past the deadline and judges, minutes before the job’s timeout', async () => {
    const time = new ManualTimeProvider(1_000);
    const { cluster, regionId, manager } = setup(redis, time);
    cluster.splitHangs = true;
    const m = manager();
    const id = await m.startSplit({ regionId, splitKey: Buffer.from('k'), reason: 'size', timeoutMs: 5_000 });
    while (cluster.splits.length === 0) await new Promise((r) => setTimeout(r, 5));
    await time.advance(10_000);
    expect((await m.get(id)).status).toBe('Running'); // a live leader is waited for past the deadline
    // Seen dead twice (a late heartbeat on a busy node), then alive: still waited for.
    cluster.alive.delete(A.id);
    for (let i = 0; i < 2; i++) {
      await time.advance(1_000);
      await new Promise((r) => setTimeout(r, 20));
    }
    cluster.alive.add(A.id);
    for (let i = 0; i < 5; i++) {
      await time.advance(1_000);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await m.get(id)).status).toBe('Running');
    expect(cluster.fences.get(regionId.toString())).toEqual({ nodeId: A.id, epoch: 1 });
    cluster.alive.delete(A.id);
    const done = m.wait(id);
    for (let i = 0; i < 30 && (await m.get(id)).status === 'Running'; i++) await time.advance(1_000);
    expect(await done).toMatchObject({ status: 'Aborted', fencedOut: true });
    expect(cluster.splits).toHaveLength(1);
    expect(cluster.routes.get(regionId.toString())!.epoch).toEqual({ version: 1, confVer: 2 });
  });

  it('a verdict that failed half-way (the fence move refused once) is judged again, never the split sent again', async () => {
    const time = new ManualTimeProvider(1_000);
    const { cluster, regionId, manager } = setup(redis, time);
    let splitsAtFailure = -1;
    const setFence = cluster.setFence.bind(cluster);
    cluster.setFence = async (id, fence) => {
      if (splitsAtFailure < 0 && fence.epoch === 2) {
        splitsAtFailure = cluster.splits.length;
        throw new Error('Redis unreachable');
      }
      return setFence(id, fence);
    };
    const m = manager();
    const id = await stalledSplit(m, cluster, regionId);
    cluster.alive.delete(A.id);
    const done = m.wait(id);
    while ((await m.get(id)).status === 'Running') await time.advance(2_000);
    expect(await done).toMatchObject({ status: 'Aborted', fencedOut: true });
    expect(splitsAtFailure).toBeGreaterThan(0);
    expect(cluster.splits).toHaveLength(splitsAtFailure);
    expect(cluster.fences.get(regionId.toString())).toEqual({ nodeId: A.id, epoch: 2 });
    expect(cluster.routes.get(regionId.toString())!.epoch).toEqual({ version: 1, confVer: 2 });
  });

  it('an abandoned split: a new metasrv leader resumes the deletion, never the split, even with the leader back', async () => {
    const time = new ManualTimeProvider(1_000);
    const { cluster, regionId, manager } = setup(redis, time);
    const first = manager();
    const id = await stalledSplit(first, cluster, regionId);
    cluster.alive.delete(A.id);
    cluster.retireFailures = 1_000; // the object store is down: the deletion keeps failing
    await time.advance(10_000);
    while ((await first.get(id)).step !== 'SplitAbandon') await time.advance(2_000);
    await first.stop(); // leadership lost while deleting
    const splitsBefore = cluster.splits.length;

    cluster.alive.add(A.id); // the leader is back, and so is the object store
    cluster.retireFailures = 0;
    const second = manager();
    expect(await second.resumeAll()).toEqual([id]);
    const done = second.wait(id);
    while ((await second.get(id)).status === 'Running') await time.advance(2_000);
    expect(await done).toMatchObject({ status: 'Aborted', error: expect.stringMatching(/died before/) });
    expect(cluster.splits).toHaveLength(splitsBefore); // no split sent to the returned leader
    expect(cluster.retired).toEqual([cluster.splits[0]!.child.toString()]);
    expect(cluster.calls.some((c) => c.startsWith('routes'))).toBe(false);
  });
});

describe('SplitChecker', () => {
  it('splits the largest region past the size that no procedure holds, one per round', async () => {
    const started: string[] = [];
    const busy = new Set<string>();
    let maintenance = false;
    const sizes = new Map<bigint, number>([
      [new RegionId(1, 1).value, 500],
      [new RegionId(1, 2).value, 900],
      [new RegionId(1, 3).value, 100],
    ]);
    const checker = new SplitChecker({
      sizes: () => sizes,
      splits: {
        startSplit: async (task) => {
          started.push(`${task.regionId.toString()} ${task.reason}`);
          return 'id';
        },
        isMigrating: (regionId) => busy.has(regionId.toString()),
      },
      maintenance: { isEnabled: async () => maintenance },
      maxSizeBytes: 400,
      intervalMs: 1000,
      splitTimeoutMs: 60_000,
    });
    expect(await checker.tick()).toBe('1:2');
    busy.add('1:2');
    expect(await checker.tick()).toBe('1:1');
    busy.add('1:1');
    expect(await checker.tick()).toBe('none');
    maintenance = true;
    busy.clear();
    expect(await checker.tick()).toBe('maintenance');
    expect(started).toEqual(['1:2 size', '1:1 size']);
  });

  it('splits a hot region at the key its leader proposes when none is past the size; size goes first', async () => {
    const started: string[] = [];
    const busy = new Set<string>();
    const sizes = new Map<bigint, number>([[new RegionId(1, 1).value, 100]]);
    const hot = new Map<bigint, Buffer>([
      [new RegionId(1, 2).value, Buffer.from('m')],
      [new RegionId(1, 3).value, Buffer.from('t')],
    ]);
    const checker = new SplitChecker({
      sizes: () => sizes,
      loadSplitKeys: () => hot,
      splits: {
        startSplit: async (task) => {
          started.push(`${task.regionId.toString()} ${task.reason} ${task.splitKey?.toString() ?? '-'}`);
          return 'id';
        },
        isMigrating: (regionId) => busy.has(regionId.toString()),
      },
      maintenance: { isEnabled: async () => false },
      maxSizeBytes: 400,
      intervalMs: 1000,
      splitTimeoutMs: 60_000,
    });
    expect(await checker.tick()).toBe('1:2');
    busy.add('1:2');
    expect(await checker.tick()).toBe('1:3');
    busy.add('1:3');
    expect(await checker.tick()).toBe('none');
    sizes.set(new RegionId(1, 4).value, 500);
    busy.clear();
    expect(await checker.tick()).toBe('1:4');
    expect(started).toEqual(['1:2 load m', '1:3 load t', '1:4 size -']);
  });

  it('gives a region it split a minute before the others go again: one that cannot split starves none', async () => {
    const started: string[] = [];
    const time = new ManualTimeProvider(0);
    // 1:1 never gets smaller (a single huge key: its splits abort); 1:2 waits behind it.
    const sizes = new Map<bigint, number>([
      [new RegionId(1, 1).value, 900],
      [new RegionId(1, 2).value, 500],
    ]);
    const checker = new SplitChecker({
      sizes: () => sizes,
      splits: {
        startSplit: async (task) => {
          started.push(task.regionId.toString());
          return 'id';
        },
        isMigrating: () => false,
      },
      maintenance: { isEnabled: async () => false },
      maxSizeBytes: 400,
      intervalMs: 1000,
      splitTimeoutMs: 60_000,
      retryAfterMs: 60_000,
      time,
    });
    expect(await checker.tick()).toBe('1:1');
    expect(await checker.tick()).toBe('1:2');
    expect(await checker.tick()).toBe('none');
    await time.advance(60_000);
    expect(await checker.tick()).toBe('1:1');
    expect(started).toEqual(['1:1', '1:2', '1:1']);
  });

  it('splits a region past the key count though small in bytes; the one furthest past its limit goes first', async () => {
    const started: string[] = [];
    const busy = new Set<string>();
    const id = (n: number) => new RegionId(1, n).value;
    // 1:1 is at 1.25 of the size limit, 1:2 at 2 of the key limit with few bytes, 1:3 under both.
    const sizes = new Map<bigint, number>([
      [id(1), 500],
      [id(2), 50],
      [id(3), 300],
    ]);
    const keys = new Map<bigint, number>([
      [id(1), 10],
      [id(2), 2000],
      [id(3), 900],
    ]);
    const checker = (maxKeys?: number) =>
      new SplitChecker({
        sizes: () => sizes,
        keys: () => keys,
        splits: {
          startSplit: async (task) => {
            started.push(`${task.regionId.toString()} ${task.reason}`);
            return 'id';
          },
          isMigrating: (regionId) => busy.has(regionId.toString()),
        },
        maintenance: { isEnabled: async () => false },
        maxSizeBytes: 400,
        ...(maxKeys ? { maxKeys } : {}),
        intervalMs: 1000,
        splitTimeoutMs: 60_000,
      });
    const byKeys = checker(1000);
    expect(await byKeys.tick()).toBe('1:2');
    busy.add('1:2');
    expect(await byKeys.tick()).toBe('1:1');
    busy.add('1:1');
    expect(await byKeys.tick()).toBe('none');
    // Without a key limit, only size counts.
    busy.clear();
    expect(await checker().tick()).toBe('1:1');
    expect(started).toEqual(['1:2 keys', '1:1 size', '1:1 size']);
  });
});

describe('region merge procedure', () => {
  let redis: Redis;
  beforeAll(async () => {
    redis = await ns.connect();
  });

  /** Two adjacent regions, `a‥g` and `g‥m`, both led by A. */
  function adjacent(time?: ManualTimeProvider) {
    const setupped = setup(redis, time);
    const { cluster, regionId } = setupped;
    const source = new RegionId(9, nextRegion++);
    cluster.routes.set(regionId.toString(), {
      ...cluster.routes.get(regionId.toString())!,
      range: keyRange('a', 'g'),
      followers: [B.id],
    });
    cluster.routes.set(source.toString(), {
      regionId: source,
      range: keyRange('g', 'm'),
      leader: A.id,
      epoch: { version: 3, confVer: 2 },
      state: 'Normal',
      followers: [B.id],
    });
    return { ...setupped, source };
  }

  it('merges the source into the target on their leader, closes both regions’ followers, then one route for both', async () => {
    const { cluster, regionId, source, manager } = adjacent();
    const m = manager();
    const id = await m.startMerge({ regionId, source, reason: 'manual', timeoutMs: 60_000 });
    expect(m.isMigrating(source)).toBe(true);
    expect((await m.wait(id)).status).toBe('Done');
    expect(cluster.calls).toEqual([
      `merge ${A.id} ${source.toString()} → ${regionId.toString()}`,
      `close ${B.id}`,
      `close ${B.id}`,
      `routes ${regionId.toString()} -${source.toString()}`,
      `retire ${source.toString()}`,
    ]);
    expect(cluster.merges[0]).toMatchObject({
      targetRange: keyRange('a', 'g'),
      sourceRange: keyRange('g', 'm'),
      epoch: { version: 4, confVer: 1 },
    });
    expect(cluster.routes.get(regionId.toString())).toMatchObject({
      range: keyRange('a', 'm'),
      epoch: { version: 4, confVer: 1 },
      followers: [],
    });
    expect(cluster.routes.has(source.toString())).toBe(false);
    // Both locks are gone: each region may move again.
    expect(await redis.exists(lockKey(source))).toBe(0);
    expect(await redis.exists(lockKey(regionId))).toBe(0);
  });

  it('refuses regions led by two nodes, regions that are not adjacent, a dead leader, and a region into itself', async () => {
    const { cluster, regionId, source, manager } = adjacent();
    const m = manager();
    cluster.routes.set(source.toString(), { ...cluster.routes.get(source.toString())!, leader: B.id });
    const split = await m.startMerge({ regionId, source, reason: 'manual', timeoutMs: 60_000 });
    expect(await m.wait(split)).toMatchObject({
      status: 'Failed',
      error: expect.stringMatching(/move one first/),
    });
    cluster.routes.set(source.toString(), {
      ...cluster.routes.get(source.toString())!,
      leader: A.id,
      range: keyRange('h', 'm'),
    });
    const apart = await m.startMerge({ regionId, source, reason: 'manual', timeoutMs: 60_000 });
    expect(await m.wait(apart)).toMatchObject({
      status: 'Failed',
      error: expect.stringMatching(/not adjacent/),
    });
    // The checker's sizes outlive a node by seconds: a merge sent to it would hold both until its deadline.
    cluster.routes.set(source.toString(), {
      ...cluster.routes.get(source.toString())!,
      range: keyRange('g', 'm'),
    });
    cluster.alive.delete(A.id);
    const dead = await m.startMerge({ regionId, source, reason: 'size', timeoutMs: 60_000 });
    expect(await m.wait(dead)).toMatchObject({ status: 'Failed', error: expect.stringMatching(/not alive/) });
    expect(m.isMigrating(regionId) || m.isMigrating(source)).toBe(false);
    cluster.alive.add(A.id);
    await expect(
      m.startMerge({ regionId, source: regionId, reason: 'manual', timeoutMs: 1 }),
    ).rejects.toMatchObject({
      code: 'InvalidArgument',
    });
    expect(cluster.merges).toEqual([]);
  });

  it('takes neither lock when a running procedure holds the source’s', async () => {
    const { regionId, source, manager } = adjacent();
    const m = manager();
    const sourceLock = lockKey(source);
    await redis
      .multi()
      .set(sourceLock, 'busy')
      .sadd(clusterKey(ns.prefix, 'procedures', 'running'), 'busy')
      .exec();
    try {
      await expect(
        m.startMerge({ regionId, source, reason: 'manual', timeoutMs: 60_000 }),
      ).rejects.toMatchObject({ code: 'MigrationRunning', details: { regionId: source.toString() } });
      expect(await redis.exists(lockKey(regionId))).toBe(0);
      expect(await redis.get(sourceLock)).toBe('busy');
    } finally {
      await redis
        .multi()
        .del(sourceLock)
        .srem(clusterKey(ns.prefix, 'procedures', 'running'), 'busy')
        .exec();
    }
  });

  it('a leader dead past the deadline: both regions are fenced first, then the merge goes on or both routes stay past the fence', async () => {
    const time = new ManualTimeProvider(1_000);
    for (const flushedMerge of [false, true]) {
      const { cluster, regionId, source, manager } = adjacent(time);
      cluster.mergeTimesOut = true;
      const fencesAtRead: unknown[] = [];
      const read = cluster.flushedEpochVersion.bind(cluster);
      cluster.flushedEpochVersion = async (id) => {
        fencesAtRead.push([cluster.fences.get(regionId.toString()), cluster.fences.get(source.toString())]);
        return read(id);
      };
      const m = manager();
      const id = await m.startMerge({ regionId, source, reason: 'manual', timeoutMs: 5_000 });
      while (cluster.merges.length === 0) await new Promise((r) => setTimeout(r, 5));
      await time.advance(10_000);
      expect((await m.get(id)).status).toBe('Running'); // a live leader is waited for
      if (flushedMerge) cluster.flushed.set(regionId.toString(), 4);
      cluster.alive.delete(A.id);
      const done = m.wait(id);
      while ((await m.get(id)).status === 'Running') await time.advance(2_000);
      const final = await done;
      expect(fencesAtRead.length).toBeGreaterThan(0);
      for (const fences of fencesAtRead)
        expect(fences).toEqual([
          { nodeId: A.id, epoch: 2 },
          { nodeId: A.id, epoch: 3 },
        ]);
      if (flushedMerge) {
        expect(final.status).toBe('Done');
        expect(cluster.routes.get(regionId.toString())).toMatchObject({
          range: keyRange('a', 'm'),
          epoch: { version: 4, confVer: 2 },
        });
        expect(cluster.retired).toEqual([source.toString()]);
      } else {
        expect(final).toMatchObject({ status: 'Aborted', error: expect.stringMatching(/died before/) });
        expect(cluster.routes.get(regionId.toString())).toMatchObject({
          range: keyRange('a', 'g'),
          epoch: { version: 1, confVer: 2 },
        });
        expect(cluster.routes.get(source.toString())).toMatchObject({
          range: keyRange('g', 'm'),
          epoch: { version: 3, confVer: 3 },
        });
        expect(cluster.retired).toEqual([]);
      }
    }
  });

  it('a new metasrv leader resumes a merge after the node merged, and finishes it once', async () => {
    const { cluster, regionId, source, manager } = adjacent();
    const first = manager();
    configureFailPoint('region_merge_after_MergeLeaderRegions', 'pause');
    const id = await first.startMerge({ regionId, source, reason: 'manual', timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 50));
    const stopping = first.stop();
    removeFailPoint('region_merge_after_MergeLeaderRegions');
    await stopping;
    const second = manager();
    expect(await second.resumeAll()).toEqual([id]);
    expect((await second.wait(id)).status).toBe('Done');
    expect(cluster.calls.filter((c) => c.startsWith('routes'))).toHaveLength(1);
    expect(cluster.routes.get(regionId.toString())!.range).toEqual(keyRange('a', 'm'));
  });
});

describe('MergeChecker', () => {
  const route = (n: number, start: string, end: string, leader: string): RegionRoute => ({
    regionId: new RegionId(1, n),
    range: keyRange(start, end),
    leader,
    epoch: { version: 2, confVer: 1 },
    state: 'Normal',
  });

  function checker(
    routes: RegionRoute[],
    sizes: Record<number, number>,
    minRegions = 1,
    hot: number[] = [],
    drained: string[] = [],
    keys: Record<number, number> = {},
  ) {
    const time = new ManualTimeProvider(0);
    const actions: string[] = [];
    const check = new MergeChecker({
      routes: async () => routes,
      sizes: () =>
        new Map(Object.entries(sizes).map(([n, bytes]) => [new RegionId(1, Number(n)).value, bytes])),
      keys: () =>
        new Map(Object.entries(keys).map(([n, versions]) => [new RegionId(1, Number(n)).value, versions])),
      maxKeys: 1000,
      loadSplitKeys: () => new Map(hot.map((n) => [new RegionId(1, n).value, Buffer.from('k')])),
      procedures: {
        startMerge: async (task) => {
          actions.push(`merge ${task.source.toString()} into ${task.regionId.toString()}`);
          return 'id';
        },
        submit: async (task) => {
          actions.push(`move ${task.regionId.toString()} to ${task.toPeer.id}`);
        },
        isMigrating: () => false,
      },
      peers: { node: async (id) => [A, B].find((p) => p.id === id) },
      candidates: async () =>
        [A, B].map((p) => ({ ...p, alive: true, regionCount: 1, drained: drained.includes(p.id) })),
      maintenance: { isEnabled: async () => false },
      maxSizeBytes: 100,
      splitMergeIntervalMs: 60_000,
      minRegions,
      intervalMs: 1000,
      timeoutMs: 60_000,
      time,
    });
    return { check, time, actions };
  }

  it('merges small neighbours once their ranges held still for the interval; moves one when two nodes lead them', async () => {
    const routes = [route(1, '', 'g', A.id), route(2, 'g', 'p', A.id), route(3, 'p', '', B.id)];
    const { check, time, actions } = checker(routes, { 1: 500, 2: 50, 3: 40 });
    expect(await check.tick()).toEqual({ skipped: 'none' }); // just seen: not still long enough
    await time.advance(60_000);
    // 1 is too big; 2 and 3 are small but led by two nodes: the smaller (3) moves to 2's leader.
    expect(await check.tick()).toEqual({ moved: '1:3', to: A.id });
    routes[2] = { ...routes[2]!, leader: A.id };
    expect(await check.tick()).toEqual({ merged: '1:3', into: '1:2' });
    expect(actions).toEqual([`move 1:3 to ${A.id}`, 'merge 1:3 into 1:2']);
  });

  it('moves no region onto a drained node to merge it: the other one moves, or none when both are drained', async () => {
    const routes = [route(1, '', 'g', A.id), route(2, 'g', '', B.id)];
    // 2 is the smaller, but 1's leader (A) is drained: 1 moves to B instead.
    const oneDrained = checker(routes, { 1: 50, 2: 40 }, 1, [], [A.id]);
    await oneDrained.check.tick();
    await oneDrained.time.advance(60_000);
    expect(await oneDrained.check.tick()).toEqual({ moved: '1:1', to: B.id });
    const bothDrained = checker(routes, { 1: 50, 2: 40 }, 1, [], [A.id, B.id]);
    await bothDrained.check.tick();
    await bothDrained.time.advance(60_000);
    expect(await bothDrained.check.tick()).toEqual({ skipped: 'none' });
    expect(bothDrained.actions).toEqual([]);
    // A pair that cannot move does not hold back the pairs after it (2 and 3 share a leader).
    const later = [route(1, '', 'g', A.id), route(2, 'g', 'p', B.id), route(3, 'p', '', B.id)];
    const passedOver = checker(later, { 1: 50, 2: 40, 3: 30 }, 1, [], [A.id, B.id]);
    await passedOver.check.tick();
    await passedOver.time.advance(60_000);
    expect(await passedOver.check.tick()).toEqual({ merged: '1:3', into: '1:2' });
  });

  it('leaves a region of many versions alone, however few its bytes', async () => {
    const routes = [route(1, '', 'g', A.id), route(2, 'g', '', A.id)];
    const many = checker(routes, { 1: 10, 2: 10 }, 1, [], [], { 1: 5000, 2: 10 });
    await many.check.tick();
    await many.time.advance(60_000);
    expect(await many.check.tick()).toEqual({ skipped: 'none' });
    const few = checker(routes, { 1: 10, 2: 10 }, 1, [], [], { 1: 1000, 2: 10 });
    await few.check.tick();
    await few.time.advance(60_000);
    expect(await few.check.tick()).toEqual({ merged: '1:2', into: '1:1' });
  });

  it('leaves a hot region alone (its leader proposes a load split)', async () => {
    const routes = [route(1, '', 'g', A.id), route(2, 'g', '', A.id)];
    const { check, time } = checker(routes, { 1: 10, 2: 10 }, 1, [2]);
    await check.tick();
    await time.advance(60_000);
    expect(await check.tick()).toEqual({ skipped: 'none' });
    const cold = checker(routes, { 1: 10, 2: 10 }, 1, []);
    await cold.check.tick();
    await cold.time.advance(60_000);
    expect(await cold.check.tick()).toEqual({ merged: '1:2', into: '1:1' });
  });

  it('leaves a region that just split alone, and stops at the bootstrap’s region count', async () => {
    const routes = [route(1, '', 'g', A.id), route(2, 'g', '', A.id)];
    const { check, time } = checker(routes, { 1: 10, 2: 10 }, 2);
    await check.tick();
    await time.advance(60_000);
    expect(await check.tick()).toEqual({ skipped: 'none' }); // two regions: the minimum
    const three = [route(1, '', 'g', A.id), route(2, 'g', 'p', A.id), route(3, 'p', '', A.id)];
    const other = checker(three, { 1: 10, 2: 10, 3: 10 }, 2);
    await other.check.tick();
    await other.time.advance(30_000);
    three[1] = { ...three[1]!, epoch: { version: 3, confVer: 1 } }; // 2 split meanwhile
    await other.time.advance(30_000);
    // 1‥2: 2 changed range 30 s ago; 2‥3: the same. Nothing yet.
    expect(await other.check.tick()).toEqual({ skipped: 'none' });
  });
});

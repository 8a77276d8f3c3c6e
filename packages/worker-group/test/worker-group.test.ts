import { Readable } from 'node:stream';
import {
  ManualTimeProvider,
  configureFailPoint,
  failPointHits,
  isRegionStoreError,
  keyRange,
  removeFailPoint,
  type RegionId,
} from '@regionstore/core';
import {
  WriteBatch,
  mvccGet,
  mvccGetMany,
  putVersion,
  readApplyState,
  type KvEngine,
} from '@regionstore/engine';
import { committedManifest } from '@regionstore/region-files';
import {
  ALL,
  EPOCH,
  b,
  failure,
  freshRegion,
  objectNames,
  put,
  pausedFullFlush,
  until,
  useCluster,
  type TestNode,
} from './helpers';

const cluster = useCluster('worker-group');

/** A region of `[start, end)` on `node` holding `<start>1`, flushed: it has files in the object store. */
async function flushedRegion(node: TestNode, start: string, end: string): Promise<RegionId> {
  const region = freshRegion();
  await node.group.ddl(region, { type: 'create', range: keyRange(b(start), b(end)), epoch: EPOCH });
  await node.group.write({ regionId: region, mutations: [put(`${start}1`, 'x')] });
  await node.group.ddl(region, { type: 'flush' });
  return region;
}

describe('WorkerGroup', () => {
  // Counterpart of the seed's test_worker_group_start_stop.
  it('starts four workers and stops them; a stopped group refuses requests with WorkerStopped', async () => {
    const node = await cluster.node({ config: { numWorkers: 4 } });
    expect(node.group.config.numWorkers).toBe(4);
    await node.group.stop();
    const err = await failure(node.group.write({ regionId: freshRegion(), mutations: [put('a', '1')] }));
    expect(isRegionStoreError(err, 'WorkerStopped')).toBe(true);
  });

  it('flushes what its leading regions took since their last flush, before a stop; none past the deadline', async () => {
    const flushedBeforeStop = async (deadlineMs: number) => {
      const node = await cluster.node();
      const regions = [freshRegion(), freshRegion(), freshRegion()];
      for (const region of regions) {
        await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
        await node.group.write({ regionId: region, mutations: [put('a', '1')] });
        await node.group.write({ regionId: region, mutations: [put('b', '2')] });
      }
      await node.group.flushLeaders(deadlineMs);
      await node.shutdown();
      const wal = await cluster.wal();
      return Promise.all(
        regions.map(
          async (region) =>
            (await committedManifest({ storage: cluster.storage, wal }, region))?.manifest.walEntryId ?? 0,
        ),
      );
    };
    expect(await flushedBeforeStop(5000)).toEqual([2, 2, 2]); // the next opens replay nothing
    expect(await flushedBeforeStop(0)).toEqual([0, 0, 0]); // none started: the WAL keeps it all
  });

  it('refuses a worker count that is not a power of two', async () => {
    await expect(cluster.node({ config: { numWorkers: 3 } })).rejects.toMatchObject({
      code: 'InvalidConfig',
    });
  });

  it('acknowledges a write only once it is in the WAL and the engine', async () => {
    const node = await cluster.node();
    const wal = await cluster.wal();
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    expect(node.group.isRegionExists(region)).toBe(true);
    const results = await Promise.all([
      node.group.write({ regionId: region, mutations: [put('a', '1'), put('b', '2')] }),
      node.group.write({
        regionId: region,
        epoch: EPOCH,
        mutations: [put('c', '3'), { op: 'delete', key: b('a') }],
      }),
    ]);
    expect(results.map((r) => r.entryId)).toEqual([1, 2]);
    expect(results[1]!.commitTs).toBeGreaterThan(results[0]!.commitTs);
    expect(await wal.lastEntryId(region)).toBe(2);
    expect(await mvccGet(node.engine, b('a'))).toBeUndefined();
    expect((await mvccGet(node.engine, b('a'), results[0]!.commitTs))?.toString()).toBe('1');
    expect((await mvccGet(node.engine, b('c')))?.toString()).toBe('3');
    expect(node.group.getRegion(region)!.lastEntryId).toBe(2);
    expect(node.group.concurrency.intentCount).toBe(0);
  });

  it('writes a restore at its original commit ts, through the WAL, and later writes commit above it', async () => {
    const node = await cluster.node();
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    const future = node.group.concurrency.timestamps.maxTs() + (1000n << 18n);
    const restored = await node.group.write({
      regionId: region,
      commitTs: future,
      mutations: [put('r', 'old')],
    });
    expect(restored.commitTs).toBe(future);
    expect(await mvccGet(node.engine, b('r'), future - 1n)).toBeUndefined();
    expect((await mvccGet(node.engine, b('r'), future))?.toString()).toBe('old');
    const later = await node.group.write({ regionId: region, mutations: [put('r', 'new')] });
    expect(later.commitTs).toBeGreaterThan(future);
    // recovering the region elsewhere from the WAL gives the same version, and the same floor
    const other = await cluster.node();
    const next = { version: 1, confVer: 2 };
    await other.group.ddl(region, { type: 'open', range: ALL, epoch: next, role: 'Leader' });
    expect((await mvccGet(other.engine, b('r'), future))?.toString()).toBe('old');
    const there = await other.group.write({ regionId: region, epoch: next, mutations: [put('s', 'x')] });
    expect(there.commitTs).toBeGreaterThan(future);
  });

  it('keeps the newer version as the latest when a restore writes below it, live and after replay', async () => {
    const node = await cluster.node();
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    const newer = await node.group.write({
      regionId: region,
      mutations: [put('k', 'new'), put('d', 'kept')],
    });
    const old = newer.commitTs - 10n;
    // One worker batch with a restore below the newer versions and a fresh write after it.
    await Promise.all([
      node.group.write({ regionId: region, commitTs: old, mutations: [put('k', 'old'), put('n', 'only')] }),
      node.group.write({ regionId: region, mutations: [{ op: 'delete', key: b('d') }] }),
    ]);
    const check = async (engine: KvEngine) => {
      expect((await mvccGet(engine, b('k')))?.toString()).toBe('new');
      expect((await mvccGet(engine, b('k'), old))?.toString()).toBe('old');
      expect((await mvccGet(engine, b('n')))?.toString()).toBe('only');
      expect(await mvccGet(engine, b('d'))).toBeUndefined();
      expect((await mvccGetMany(engine, [b('k'), b('n'), b('d')])).map((v) => v?.toString())).toEqual([
        'new',
        'only',
        undefined,
      ]);
    };
    await check(node.engine);
    const other = await cluster.leaderAt(region, 2);
    await check(other.engine);
  });

  it("commits above the region's versions on a node whose clock is behind the previous leader's", async () => {
    // Node A's clock runs a year ahead of node B's (two machines, skewed clocks).
    const ahead = await cluster.node({ time: new ManualTimeProvider(1_800_000_000_000) });
    const behind = await cluster.node({ time: new ManualTimeProvider(1_768_000_000_000) });
    const region = freshRegion();
    await ahead.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    const first = await ahead.group.write({ regionId: region, mutations: [put('k', 'from A')] });
    // Flushed: node B loads the snapshot and replays no WAL entry, so only the apply state (via the
    // flush manifest) tells it how high the region's timestamps go.
    await ahead.group.ddl(region, { type: 'flush' });
    const next = { version: 1, confVer: 2 };
    await behind.group.ddl(region, { type: 'open', range: ALL, epoch: next, role: 'Leader' });
    const second = await behind.group.write({
      regionId: region,
      epoch: next,
      mutations: [put('k', 'from B')],
    });
    expect(second.commitTs).toBeGreaterThan(first.commitTs);
    // Every read path agrees that B's write is the newest.
    expect((await mvccGet(behind.engine, b('k')))?.toString()).toBe('from B');
    expect((await mvccGet(behind.engine, b('k'), second.commitTs))?.toString()).toBe('from B');
    expect((await mvccGet(behind.engine, b('k'), first.commitTs))?.toString()).toBe('from A');
    // And after B restarts with its region data still local, the floor comes from its apply state.
    const restarted = await cluster.node({ time: new ManualTimeProvider(1_768_000_000_000) });
    const further = { version: 1, confVer: 3 };
    await restarted.group.ddl(region, { type: 'open', range: ALL, epoch: further, role: 'Leader' });
    const third = await restarted.group.write({
      regionId: region,
      epoch: further,
      mutations: [put('k', 'again')],
    });
    expect(third.commitTs).toBeGreaterThan(second.commitTs);
  });

  it('answers bad writes with typed errors and writes nothing for them', async () => {
    const node = await cluster.node();
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: keyRange(b('b'), b('m')), epoch: EPOCH });
    const cases: Array<[string, Promise<unknown>]> = [
      ['RegionNotFound', node.group.write({ regionId: freshRegion(), mutations: [put('c', '1')] })],
      ['KeyNotInRange', node.group.write({ regionId: region, mutations: [put('c', '1'), put('z', '1')] })],
      [
        'EpochNotMatch',
        node.group.write({ regionId: region, epoch: { version: 2, confVer: 1 }, mutations: [put('c', '1')] }),
      ],
      ['InvalidArgument', node.group.write({ regionId: region, mutations: [] })],
      ['InvalidArgument', node.group.write({ regionId: region, mutations: [put('', 'x')] })],
    ];
    for (const [code, promise] of cases) expect((await failure(promise)) as unknown).toMatchObject({ code });
    expect(await mvccGet(node.engine, b('c'))).toBeUndefined();
    expect(node.group.getRegion(region)!.lastEntryId).toBe(0);
  });

  it('rejects the write, and leaves the engine alone, when the WAL append is fenced out', async () => {
    const a = await cluster.node();
    const b2 = await cluster.node();
    const region = freshRegion();
    await a.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await a.group.write({ regionId: region, mutations: [put('k', 'from-a')] });
    // Failover: node b opens the region as leader at the next placement epoch.
    const next = { version: 1, confVer: 2 };
    await b2.group.ddl(region, { type: 'open', range: ALL, epoch: next, role: 'Leader' });
    const err = await failure(a.group.write({ regionId: region, mutations: [put('k', 'late-a')] }));
    expect(err).toMatchObject({ code: 'NotLeader', details: { leader: b2.nodeId } });
    expect((await mvccGet(a.engine, b('k')))?.toString()).toBe('from-a');
    // a knows now: the next write fails before touching the WAL
    expect(await failure(a.group.write({ regionId: region, mutations: [put('k', 'x')] }))).toMatchObject({
      code: 'NotLeader',
    });
    await b2.group.write({ regionId: region, epoch: next, mutations: [put('k', 'from-b')] });
    expect((await mvccGet(b2.engine, b('k')))?.toString()).toBe('from-b');
  });

  it('applies an append whose reply was lost before the next write, so no WAL entry is skipped', async () => {
    const node = await cluster.node();
    const wal = await cluster.wal();
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await node.group.write({ regionId: region, mutations: [put('a', '1')] });
    configureFailPoint('wal_append_reply_lost', '1*throw(connection reset)');
    const lost = await failure(node.group.write({ regionId: region, mutations: [put('b', '2')] }));
    expect(lost).toMatchObject({ code: 'FailPoint' });
    expect(await wal.lastEntryId(region)).toBe(2); // Redis took it; the node could not know
    const next = await node.group.write({ regionId: region, mutations: [put('c', '3')] });
    expect(next.entryId).toBe(3);
    expect(node.group.getRegion(region)!.lastEntryId).toBe(3);
    // the lost-reply write is there now, on this node as on any node that replays the WAL
    expect((await mvccGet(node.engine, b('b')))?.toString()).toBe('2');
    expect((await readApplyState(node.engine, region))?.appliedIndex).toBe(3);
    const other = await cluster.node();
    const epoch2 = { version: 1, confVer: 2 };
    await other.group.ddl(region, { type: 'open', range: ALL, epoch: epoch2, role: 'Leader' });
    for (const [k, v] of [
      ['a', '1'],
      ['b', '2'],
      ['c', '3'],
    ] as const)
      expect((await mvccGet(other.engine, b(k)))?.toString()).toBe(v);
  });

  it('recovers every acknowledged write on a fresh engine from the flushed snapshot and the WAL', async () => {
    const first = await cluster.node();
    const region = freshRegion();
    await first.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    const acked: Array<[string, string]> = [];
    for (let i = 0; i < 40; i++) {
      const key = `key-${String(i).padStart(3, '0')}`;
      await first.group.write({ regionId: region, mutations: [put(key, `v${i}`)] });
      acked.push([key, `v${i}`]);
      if (i === 19) expect((await first.group.ddl(region, { type: 'flush' })).lastEntryId).toBe(20);
    }
    const wal = await cluster.wal();
    expect(await wal.trimmedEntryId(region)).toBe(20);
    await first.crash();

    const second = await cluster.node();
    const opened = await second.group.ddl(region, {
      type: 'open',
      range: ALL,
      epoch: { version: 1, confVer: 2 },
      role: 'Leader',
    });
    expect(opened.lastEntryId).toBe(40);
    for (const [key, value] of acked) expect((await mvccGet(second.engine, b(key)))?.toString()).toBe(value);
    const more = await second.group.write({ regionId: region, mutations: [put('after', 'x')] });
    expect(more.entryId).toBe(41);
  });

  it('reopens on the same engine from its own data when the WAL still reaches it', async () => {
    const node = await cluster.node();
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await node.group.write({ regionId: region, mutations: [put('a', '1')] });
    await node.group.ddl(region, { type: 'close' });
    expect(node.group.isRegionExists(region)).toBe(false);
    const reopened = await node.group.ddl(region, { type: 'open', range: ALL, epoch: EPOCH, role: 'Leader' });
    expect(reopened.lastEntryId).toBe(1);
    const manifests = [];
    for await (const o of cluster.storage.list(`manifests/${region.value}/`)) manifests.push(o.name);
    // Only the creation manifest: nothing was flushed, the data came from the engine.
    expect(manifests).toEqual([expect.stringMatching(new RegExp(`^manifests/${region.value}/0{20}-`))]);
    expect((await mvccGet(node.engine, b('a')))?.toString()).toBe('1');
  });

  it('continues from its own copy only at the same range and epoch version; any other copy is loaded anew', async () => {
    const node = await cluster.node();
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await node.group.write({ regionId: region, mutations: [put('a', '1')] });
    await node.group.ddl(region, { type: 'flush' });
    await node.group.write({ regionId: region, mutations: [put('b', '2')] }); // in the WAL only
    await node.group.ddl(region, { type: 'close' });
    // A version only this engine holds: it survives an open that continues from the local copy and
    // goes with an open that loads the region from its flush and WAL.
    await node.engine.write(putVersion(new WriteBatch(), b('marker'), 1n << 20n, b('local')));
    const reopen = (epoch: typeof EPOCH) =>
      node.group.ddl(region, { type: 'open', range: ALL, epoch, role: 'Leader' });

    await reopen(EPOCH);
    expect((await mvccGet(node.engine, b('marker')))?.toString()).toBe('local');
    await node.group.ddl(region, { type: 'close' });
    // Another epoch version (a split or merge happened): the copy holds another range's data.
    await reopen({ ...EPOCH, version: EPOCH.version + 1 });
    expect(await mvccGet(node.engine, b('marker'))).toBeUndefined();
    expect((await mvccGet(node.engine, b('a')))?.toString()).toBe('1');
    expect((await mvccGet(node.engine, b('b')))?.toString()).toBe('2');
  });

  it('handles the writes of a batch before its DDL', async () => {
    const node = await cluster.node();
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    // Submitted in this order, but the close lands in the same batch as the write, which goes first.
    const close = node.group.ddl(region, { type: 'close' });
    const write = node.group.write({ regionId: region, mutations: [put('w', '1')] });
    await expect(write).resolves.toMatchObject({ entryId: 1 });
    await close;
    expect(node.group.isRegionExists(region)).toBe(false);
  });

  it('downgrades gracefully, returning the last entry id, and then refuses writes', async () => {
    const node = await cluster.node();
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await node.group.write({ regionId: region, mutations: [put('a', '1')] });
    const write = node.group.write({ regionId: region, mutations: [put('b', '2')] });
    expect(await node.group.setRoleStateGracefully(region, 'DowngradingLeader')).toEqual({ lastEntryId: 2 });
    await write;
    expect(await failure(node.group.write({ regionId: region, mutations: [put('c', '3')] }))).toMatchObject({
      code: 'NotLeader',
    });
    expect(await failure(node.group.setRoleStateGracefully(freshRegion(), 'Follower'))).toMatchObject({
      code: 'RegionNotFound',
    });
  });

  it('catches a follower up to the WAL, then makes it the writable leader', async () => {
    const leader = await cluster.node();
    const follower = await cluster.node();
    const region = freshRegion();
    await leader.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await follower.group.ddl(region, { type: 'open', range: ALL, epoch: EPOCH, role: 'Follower' });
    for (const i of [1, 2, 3])
      await leader.group.write({ regionId: region, mutations: [put(`k${i}`, `v${i}`)] });
    expect(
      await failure(follower.group.write({ regionId: region, mutations: [put('x', '1')] })),
    ).toMatchObject({
      code: 'NotLeader',
    });
    expect((await follower.group.ddl(region, { type: 'catchup', entryId: 3 })).lastEntryId).toBe(3);
    expect((await mvccGet(follower.engine, b('k2')))?.toString()).toBe('v2');
    expect(await failure(follower.group.ddl(region, { type: 'catchup', entryId: 9 }))).toMatchObject({
      code: 'NotFound',
    });

    const next = { version: 1, confVer: 2 };
    await leader.group.setRoleStateGracefully(region, 'Follower');
    // The metasrv asks again when the first answer is late: the second answers as the first, once
    // that one took (it does not refuse the leader the first one made).
    const [done, again] = await Promise.all([
      follower.group.ddl(region, { type: 'catchup', writable: true, epoch: next }),
      follower.group.ddl(region, { type: 'catchup', writable: true, epoch: next }),
    ]);
    expect(done.lastEntryId).toBe(3);
    expect(again.lastEntryId).toBe(3);
    await follower.group.write({ regionId: region, mutations: [put('k4', 'v4')] });
    expect((await mvccGet(follower.engine, b('k3')))?.toString()).toBe('v3');
    // A leader is not caught up as a follower, nor made leader at another epoch.
    for (const request of [{}, { writable: true, epoch: { version: 1, confVer: 3 } }])
      expect(await failure(follower.group.ddl(region, { type: 'catchup', ...request }))).toMatchObject({
        code: 'InvalidArgument',
      });
  });

  it('drops a region: gone from the node, its WAL destroyed, its data deleted', async () => {
    const node = await cluster.node();
    const wal = await cluster.wal();
    const region = await flushedRegion(node, 'd', 'e');
    await node.group.ddl(region, { type: 'drop' });
    expect(node.group.isRegionExists(region)).toBe(false);
    expect(await wal.fence(region)).toBeUndefined();
    for (let i = 0; i < 50 && (await mvccGet(node.engine, b('d1'))) !== undefined; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await mvccGet(node.engine, b('d1'))).toBeUndefined();
    for (let i = 0; i < 50 && (await cluster.storage.exists(`regions/${region.value}/.dropping`)); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await cluster.storage.exists(`regions/${region.value}/.dropping`)).toBe(false);
    const left = [];
    for await (const o of cluster.storage.list(`manifests/${region.value}/`)) left.push(o.name);
    expect(left).toEqual([]);
  });

  it('drops only on the leader; after a drop nothing brings the WAL back', async () => {
    const leader = await cluster.node();
    const follower = await cluster.node({ config: { resolvedTsIntervalMs: 50, followerTailBlockMs: 50 } });
    const wal = await cluster.wal();
    const redis = await cluster.ns.connect('client');
    const region = freshRegion();
    const range = keyRange(b('h'), b('i'));
    await leader.group.ddl(region, { type: 'create', range, epoch: EPOCH });
    await leader.group.write({ regionId: region, mutations: [put('h1', 'x')] });
    await follower.group.ddl(region, { type: 'open', range, epoch: EPOCH, role: 'Follower' });
    await until(() => follower.group.getRegion(region)?.lastEntryId === 1, 'the follower to apply the write');
    // The WAL is the leader's: a follower's copy is closed, not dropped.
    expect(await failure(follower.group.ddl(region, { type: 'drop' }))).toMatchObject({ code: 'NotLeader' });
    expect(await wal.lastEntryId(region)).toBe(1);

    await leader.group.ddl(region, { type: 'drop' });
    // A follower's position report landing after the drop, and a node still acting on the region.
    await wal.reportFollowers('node-late', [{ regionId: region, afterId: 1 }]);
    expect(await redis.exists(wal.keys(region).followers)).toBe(0);
    expect(await failure(wal.setFence(region, { nodeId: 'node-late', epoch: 9 }))).toMatchObject({
      code: 'RegionNotFound',
    });
    expect(await wal.lastEntryId(region)).toBe(0);
  });

  it('a leader deposed without knowing it cannot drop: the region, its WAL and its files stay', async () => {
    const old = await cluster.node();
    const wal = await cluster.wal();
    const region = await flushedRegion(old, 'j', 'k');
    // Another node took the region over (a failover) while the old leader heard nothing of it.
    const next = { nodeId: 'node-new', epoch: EPOCH.confVer + 1 };
    await wal.setFence(region, next);

    expect(await failure(old.group.ddl(region, { type: 'drop' }))).toMatchObject({ code: 'NotLeader' });
    expect(await wal.fence(region)).toEqual(next);
    expect(await wal.lastEntryId(region)).toBe(1);
    expect(await cluster.storage.exists(`regions/${region.value}/.dropping`)).toBe(false);
    expect(await objectNames(cluster.storage, `manifests/${region.value}/`)).not.toEqual([]);
  });

  it('an interrupted drop that never retired the WAL of a region led elsewhere now is given up', async () => {
    const node = await cluster.node();
    const wal = await cluster.wal();
    const region = await flushedRegion(node, 'l', 'm');
    // The drop wrote its marker and its node died before it retired the WAL; the region failed over.
    const marker = `regions/${region.value}/.dropping`;
    const fence = { nodeId: node.nodeId, epoch: EPOCH.confVer };
    await cluster.storage.write(marker, Readable.from([Buffer.from(JSON.stringify({ fence }))]));
    await node.crash();
    const next = { nodeId: 'node-new', epoch: EPOCH.confVer + 1 };
    await wal.setFence(region, next);

    await cluster.node();
    await until(async () => !(await cluster.storage.exists(marker)), 'the marker to be given up');
    expect(await wal.fence(region)).toEqual(next);
    expect(await wal.lastEntryId(region)).toBe(1);
    expect(await objectNames(cluster.storage, `manifests/${region.value}/`)).not.toEqual([]);
  });

  it('finishes a drop whose marker is from before markers named a fence, and gives up an unreadable one', async () => {
    const node = await cluster.node();
    const wal = await cluster.wal();
    const legacy = await flushedRegion(node, 'o', 'p');
    const unreadable = await flushedRegion(node, 'q', 'r');
    const marker = (region: RegionId) => `regions/${region.value}/.dropping`;
    const write = (region: RegionId, body: string) =>
      cluster.storage.write(marker(region), Readable.from([Buffer.from(body)]));
    // An older drop wrote its marker (a timestamp) and died before deleting the WAL.
    await write(legacy, String(Date.now()));
    await write(unreadable, '{"fence":');
    await node.crash();

    await cluster.node();
    await until(
      async () =>
        !(await cluster.storage.exists(marker(legacy))) &&
        !(await cluster.storage.exists(marker(unreadable))),
      'both markers to go',
    );
    expect((await wal.position(legacy)).retired).toBe(true);
    expect(await objectNames(cluster.storage, `manifests/${legacy.value}/`)).toEqual([]);
    expect(await wal.fence(unreadable)).toEqual({ nodeId: node.nodeId, epoch: EPOCH.confVer });
    expect(await objectNames(cluster.storage, `manifests/${unreadable.value}/`)).not.toEqual([]);
  });

  it('finishes a drop a crash interrupted: the next node to start deletes what the drop left', async () => {
    const node = await cluster.node();
    const wal = await cluster.wal();
    const region = await flushedRegion(node, 'f', 'g');
    const objects = async () => {
      const names = [];
      for (const prefix of [
        `manifests/${region.value}/`,
        `snapshots/${region.value}/`,
        `regions/${region.value}/`,
      ])
        for await (const o of cluster.storage.list(prefix)) names.push(o.name);
      return names;
    };
    configureFailPoint('region_drop_before_purge', 'return'); // the node dies before its purge
    await node.group.ddl(region, { type: 'drop' });
    await node.shutdown();
    removeFailPoint('region_drop_before_purge');
    expect(await objects()).toEqual(
      expect.arrayContaining([`regions/${region.value}/.dropping`, expect.stringMatching(/^manifests\//)]),
    );
    await cluster.node();
    for (let i = 0; i < 100 && (await objects()).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await objects()).toEqual([]);
    expect(await wal.fence(region)).toBeUndefined();
  });

  it('truncates a region: empty here and when opened elsewhere, and writes go on', async () => {
    const node = await cluster.node();
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await node.group.write({ regionId: region, mutations: [put('t', '1')] });
    await node.group.ddl(region, { type: 'flush' });
    await node.group.write({ regionId: region, mutations: [put('u', '2')] });
    expect((await node.group.ddl(region, { type: 'truncate' })).lastEntryId).toBe(2);
    expect(await mvccGet(node.engine, b('t'))).toBeUndefined();
    await node.group.write({ regionId: region, mutations: [put('v', '3')] });
    await node.crash();
    const other = await cluster.leaderAt(region, 2);
    expect(await mvccGet(other.engine, b('t'))).toBeUndefined();
    expect(await mvccGet(other.engine, b('u'))).toBeUndefined();
    expect((await mvccGet(other.engine, b('v')))?.toString()).toBe('3');
  });

  it('a flush running across a truncate writes nothing: the truncated data never comes back, and the write buffer counts right', async () => {
    const node = await cluster.node();
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await node.group.write({ regionId: region, mutations: [put('t', '1')] });
    const { flush } = await pausedFullFlush(node, region);
    // No write since the flush began: the truncate's empty manifest is at the flush's entry.
    expect((await node.group.ddl(region, { type: 'truncate' })).lastEntryId).toBe(1);
    expect(node.group.writeBuffer.memoryUsage).toBe(0);
    removeFailPoint('before_region_gen_snap');
    expect(await failure(flush)).toMatchObject({ code: 'Cancelled' });
    expect(node.group.writeBuffer.memoryUsage).toBe(0);
    await node.crash();
    const other = await cluster.leaderAt(region, 2);
    expect(await mvccGet(other.engine, b('t'))).toBeUndefined();
  });

  it('a truncate waits for a flush manifest already on its way, so its empty manifest lands last', async () => {
    const node = await cluster.node();
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await node.group.write({ regionId: region, mutations: [put('t', '1')] });
    configureFailPoint('region_flush_manifest_write', '1*pause');
    const flush = node.group.ddl(region, { type: 'flush', full: true });
    while (failPointHits('region_flush_manifest_write') === 0) await new Promise((r) => setTimeout(r, 5));
    const truncate = node.group.ddl(region, { type: 'truncate' });
    await new Promise((r) => setTimeout(r, 50));
    removeFailPoint('region_flush_manifest_write');
    expect((await flush).lastEntryId).toBe(1);
    expect((await truncate).lastEntryId).toBe(1);
    await node.crash();
    const other = await cluster.leaderAt(region, 2);
    expect(await mvccGet(other.engine, b('t'))).toBeUndefined();
  });

  it('refuses to create a region whose WAL exists', async () => {
    const node = await cluster.node();
    const region = freshRegion();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await node.group.write({ regionId: region, mutations: [put('a', '1')] });
    await node.group.ddl(region, { type: 'close' });
    expect(await failure(node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH }))).toMatchObject(
      {
        code: 'InvalidArgument',
      },
    );
  });
});

import { RegionId, configureFailPoint, failPointHits, keyRange, removeFailPoint } from '@regionstore/core';
import {
  CF_DEFAULT,
  decodeMvccKey,
  latestTimestamps,
  mvccGet,
  mvccRange,
  type KvEngine,
} from '@regionstore/engine';
import { regionDataBounds } from '@regionstore/region-runner';
import {
  committedManifest,
  latestManifest,
  manifestRange,
  retireObjects,
  type FlushManifest,
} from '@regionstore/region-files';
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
} from './helpers';

const cluster = useCluster('split');
const SPLIT = { version: 2, confVer: 1 };
let nextChild = 1;
const freshChild = () => new RegionId(9, nextChild++);
const splitAt = (key: string, child: RegionId) => ({
  splitKey: b(key),
  child,
  epoch: SPLIT,
  childEpoch: SPLIT,
});

describe('split on a node', () => {
  it('keeps every write of both halves under concurrent writes; each half refuses the other’s keys', async () => {
    const node = await cluster.node();
    const region = freshRegion();
    const child = freshChild();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    for (let i = 0; i < 40; i++)
      await node.group.write({ regionId: region, mutations: [put(`k${i % 10}${i}`, `v${i}`)] });

    // Writes keep coming while the split runs: each lands in the parent before it, or is refused after.
    const acknowledged = new Map<string, string>();
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const key = `${i % 2 === 0 ? 'a' : 'z'}w${i}`;
        await node.group
          .write({ regionId: region, mutations: [put(key, `x${i}`)] })
          .then(() => acknowledged.set(key, `x${i}`))
          .catch((err: { code?: string }) => expect(err.code).toBe('KeyNotInRange'));
        // A refused write answers without I/O: let the split's own I/O run.
        await new Promise((r) => setImmediate(r));
      }
    })();
    // Split once writes to both halves have landed (a fixed wait was too short on a busy machine)
    while (!['a', 'z'].every((half) => [...acknowledged.keys()].some((k) => k.startsWith(half))))
      await new Promise((r) => setTimeout(r, 5));
    await node.group.splitRegion(region, splitAt('m', child));
    writing = false;
    await writer;
    expect([...acknowledged.keys()].some((k) => k >= 'm')).toBe(true); // some landed before the split

    expect(node.group.getRegion(region)!.range).toEqual(keyRange('', 'm'));
    expect(node.group.getRegion(region)!.epoch).toEqual(SPLIT);
    expect(node.group.getRegion(child)!.range).toEqual(keyRange('m', ''));
    expect(node.group.getRegion(child)!.role).toBe('Leader');
    expect(await failure(node.group.write({ regionId: region, mutations: [put('zz', '1')] }))).toMatchObject({
      code: 'KeyNotInRange',
    });
    expect(await failure(node.group.write({ regionId: child, mutations: [put('aa', '1')] }))).toMatchObject({
      code: 'KeyNotInRange',
    });
    // The child takes writes into its own WAL.
    expect((await node.group.write({ regionId: child, mutations: [put('zz', 'child')] })).entryId).toBe(1);
    for (const [key, value] of acknowledged)
      expect((await mvccGet(node.engine, b(key)))?.toString()).toBe(value);

    // Each half has a manifest of its own range: a fresh node opening either loads exactly that.
    expect(manifestRange((await latestManifest(cluster.storage, region))!)).toEqual(keyRange('', 'm'));
    expect(manifestRange((await latestManifest(cluster.storage, child))!)).toEqual(keyRange('m', ''));
    await node.shutdown();
    const other = await cluster.node();
    await other.group.ddl(child, {
      type: 'open',
      range: keyRange('m', ''),
      epoch: { version: 2, confVer: 2 },
      role: 'Leader',
    });
    for (const [key, value] of acknowledged) {
      const got = (await mvccGet(other.engine, b(key)))?.toString();
      expect(got).toBe(key >= 'm' ? value : undefined);
    }
    expect((await mvccGet(other.engine, b('zz')))?.toString()).toBe('child');
    // Whoever opens the parent at its epoch from before the split would find only half of its range
    // in its flush: refused, never served as empty.
    expect(
      await failure(other.group.ddl(region, { type: 'open', range: ALL, epoch: EPOCH, role: 'Follower' })),
    ).toMatchObject({ code: 'EpochNotMatch' });
    expect(await mvccGet(other.engine, b('k00'))).toBeUndefined();
  });

  it('a child’s first manifest is copies of its parent’s flush for the split; each half loads only its own range', async () => {
    // One delta file is the bound: the parent's flush for the split is a delta all the same.
    const node = await cluster.node({ config: { maxDeltaFiles: 1 } });
    const region = await flushedRegion(node, ['a1', 't1', 't2']);
    const child = freshChild();
    await node.group.write({ regionId: region, mutations: [put('a2', '2'), put('t3', '2')] });
    await node.group.ddl(region, { type: 'flush' });
    const before = (await latestManifest(cluster.storage, region))!;
    expect(before.deltas).toHaveLength(1);
    // Unflushed at the split: in the parent's WAL only.
    await node.group.write({
      regionId: region,
      mutations: [put('a3', '3'), put('t1', '3'), { op: 'delete', key: b('t2') }, put('t4', '3')],
    });
    await node.group.splitRegion(region, splitAt('m', child));

    const inherited = (await latestManifest(cluster.storage, child))!;
    expect(inherited).toMatchObject({ walEntryId: 0, epoch: SPLIT, inheritedFrom: region.toString() });
    expect(manifestRange(inherited)).toEqual(keyRange('m', ''));
    const file = before.snapshot!.split('/').at(-1);
    expect(inherited.snapshot).toBe(`snapshots/${child.value}/from-${region.value}-${file}`);
    // Neither half wrote a snapshot: the parent went on with a delta at its new epoch and range (past
    // its one-file bound), and the child's files are copies of the parent's, that delta included.
    const parent = (await latestManifest(cluster.storage, region))!;
    expect(parent).toMatchObject({ epoch: SPLIT, snapshot: before.snapshot });
    expect(parent.deltas).toHaveLength(2);
    expect(manifestRange(parent)).toEqual(keyRange('', 'm'));
    expect(inherited.deltas.map((d) => d.sha256)).toEqual(parent.deltas.map((d) => d.sha256));
    expect(inherited.deltas[1]!.kvCount).toBe(4);
    expect(await objectNames(cluster.storage, `snapshots/${region.value}/`)).toEqual([before.snapshot]);
    await node.shutdown();

    const other = await cluster.node();
    await other.group.ddl(child, { type: 'open', range: keyRange('m', ''), epoch: SPLIT, role: 'Follower' });
    // The parent's snapshot and deltas held 'a…' too: the child's load left them out.
    expect(await storedKeys(other.engine)).toEqual(['t1', 't2', 't3', 't4']);
    await other.group.ddl(region, { type: 'open', range: keyRange('', 'm'), epoch: SPLIT, role: 'Follower' });
    const read = async (key: string) => (await mvccGet(other.engine, b(key)))?.toString();
    // Had the parent's load written its files' 't…' versions, t1's newest would be the old one again.
    expect(await Promise.all(['a1', 'a2', 'a3', 't1', 't2', 't3', 't4'].map(read))).toEqual([
      '1',
      '2',
      '3',
      '3',
      undefined,
      '2',
      '3',
    ]);
  });

  it('a child’s first flush of its own after inheriting is a full one, under its own name', async () => {
    const node = await cluster.node();
    const region = await flushedRegion(node, ['a', 't']);
    const child = freshChild();
    await node.group.splitRegion(region, splitAt('m', child));
    expect((await latestManifest(cluster.storage, child))!.inheritedFrom).toBe(region.toString());
    await node.group.write({ regionId: child, mutations: [put('u', '2')] });
    await node.group.ddl(child, { type: 'flush' });
    const own: FlushManifest = (await latestManifest(cluster.storage, child))!;
    expect(own.inheritedFrom).toBeUndefined();
    expect(own).toMatchObject({ walEntryId: 1, deltas: [], kvCount: 2 });
    expect(own.snapshot).toMatch(new RegExp(`^snapshots/${child.value}/\\d+-1-\\d+-[0-9a-f]+\\.rsst$`));
  });

  it('a child split again before its own first flush passes its parent’s files on; every half loads right', async () => {
    const node = await cluster.node();
    const region = await flushedRegion(node, ['a', 'p', 'x']);
    const child = freshChild();
    const grandchild = freshChild();
    await node.group.splitRegion(region, splitAt('m', child));
    await node.group.write({ regionId: child, mutations: [put('q', '2'), put('y', '2'), put('x', '2')] });
    const third = { version: 3, confVer: 1 };
    await node.group.splitRegion(child, {
      splitKey: b('u'),
      child: grandchild,
      epoch: third,
      childEpoch: third,
    });
    // The middle region's flush is a delta on the files it inherited, which still name their writer.
    const middle = (await latestManifest(cluster.storage, child))!;
    expect(middle).toMatchObject({ epoch: third, inheritedFrom: region.toString() });
    expect(manifestRange(middle)).toEqual(keyRange('m', 'u'));
    expect((await latestManifest(cluster.storage, grandchild))!.inheritedFrom).toBe(region.toString());
    await node.shutdown();

    const other = await cluster.node();
    const opens: Array<[RegionId, ReturnType<typeof keyRange>, { version: number; confVer: number }]> = [
      [region, keyRange('', 'm'), SPLIT],
      [child, keyRange('m', 'u'), third],
      [grandchild, keyRange('u', ''), third],
    ];
    for (const [id, range, epoch] of opens) {
      await other.group.ddl(id, { type: 'open', range, epoch, role: 'Follower' });
    }
    const read = async (key: string) => (await mvccGet(other.engine, b(key)))?.toString();
    expect(await Promise.all(['a', 'p', 'q', 'x', 'y'].map(read))).toEqual(['1', '1', '2', '2', '2']);
    expect(await storedKeys(other.engine)).toEqual(['a', 'p', 'q', 'x', 'y']);
  });

  it('refuses a flush of the parent at its new epoch until the child has a manifest; the split’s own copies', async () => {
    const node = await cluster.node();
    const region = await flushedRegion(node, ['a', 't']);
    const child = freshChild();
    await node.group.write({ regionId: region, mutations: [put('b', '2'), put('u', '2')] });
    await node.group.ddl(region, { type: 'split', ...splitAt('m', child) });
    // Written now, the parent's manifest at the new epoch would leave a split that can be neither
    // finished nor undone if this node died before the child's.
    expect(await failure(node.group.ddl(region, { type: 'flush', full: true }))).toMatchObject({
      code: 'Cancelled',
    });
    await node.group.splitRegion(region, splitAt('m', child));
    expect((await latestManifest(cluster.storage, child))!.inheritedFrom).toBe(region.toString());
    await node.group.ddl(region, { type: 'flush', full: true }); // the child has one: no longer refused
    await node.shutdown();
    const other = await cluster.node();
    await other.group.ddl(child, { type: 'open', range: keyRange('m', ''), epoch: SPLIT, role: 'Follower' });
    expect(await storedKeys(other.engine)).toEqual(['t', 'u']);
  });

  it('a split flush that would write a snapshot of the parent’s half stops before it: the child flushes whole', async () => {
    const node = await cluster.node();
    const region = await flushedRegion(node, ['a', 't']);
    const child = freshChild();
    const base = (await latestManifest(cluster.storage, region))!;
    await node.group.write({ regionId: region, mutations: [put('b', '2'), put('u', '2')] });
    // A full flush from before the split runs (paused); the split cancels it. The split's flush and a
    // full one asked for meanwhile then run as one, which would be a snapshot of the parent's half.
    const { flush: early } = await pausedFullFlush(node, region);
    const split = node.group.splitRegion(region, splitAt('m', child));
    while (!node.group.getRegion(child)) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 50));
    const asked = node.group.ddl(region, { type: 'flush', full: true });
    removeFailPoint('before_region_gen_snap');
    expect(await failure(early)).toMatchObject({ code: 'Cancelled' });
    expect(await failure(asked)).toMatchObject({ code: 'Cancelled' });
    await split;
    expect((await latestManifest(cluster.storage, child))!.inheritedFrom).toBeUndefined();
    // No snapshot of the half was written: the parent's files are still the flush from before.
    expect(await objectNames(cluster.storage, `snapshots/${region.value}/`)).toEqual([base.snapshot]);
    await node.shutdown();
    const other = await cluster.node();
    await other.group.ddl(child, { type: 'open', range: keyRange('m', ''), epoch: SPLIT, role: 'Follower' });
    expect(await storedKeys(other.engine)).toEqual(['t', 'u']);
  });

  it('holds the parent’s own flushes from the split until the child has copied its flush', async () => {
    const node = await cluster.node();
    const region = await flushedRegion(node, ['a', 't']);
    const child = freshChild();
    await node.group.write({ regionId: region, mutations: [put('b', '2')] });
    await node.group.ddl(region, { type: 'split', ...splitAt('m', child) });
    const parent = node.group.getRegion(region)!;
    expect(parent.mayFlushUnasked(Date.now())).toBe(false);
    await node.group.splitRegion(region, splitAt('m', child));
    expect(parent.mayFlushUnasked(Date.now())).toBe(true);
  });

  it('deletes the copies once the child’s own flush replaces them, even at the same entry', async () => {
    const node = await cluster.node();
    const region = await flushedRegion(node, ['a', 't']);
    const child = freshChild();
    await node.group.write({ regionId: region, mutations: [put('u', '2')] });
    await node.group.ddl(region, { type: 'flush' });
    await node.group.splitRegion(region, splitAt('m', child));
    const copies = async () =>
      [
        ...(await objectNames(cluster.storage, `snapshots/${child.value}/`)),
        ...(await objectNames(cluster.storage, `deltas/${child.value}/`)),
      ].filter((name) => name.includes('/from-'));
    expect(await copies()).toHaveLength(2);
    // No write since the split: the child's full flush is at entry 0 too, and takes the manifest's name.
    await node.group.ddl(child, { type: 'flush', full: true });
    expect((await latestManifest(cluster.storage, child))!).toMatchObject({ walEntryId: 0, deltas: [] });
    for (let i = 0; i < 100 && (await copies()).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await copies()).toEqual([]);
    expect((await latestManifest(cluster.storage, child))!.inheritedFrom).toBeUndefined();
  });

  it('a full flush running at the split is cancelled: the split waits for one of its own', async () => {
    const node = await cluster.node();
    const region = freshRegion();
    const child = freshChild();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await node.group.write({ regionId: region, mutations: [put('a', '1'), put('t', '2')] });
    // A flush of the whole region starts, and stops before it writes its snapshot.
    const { flush: early } = await pausedFullFlush(node, region);
    await node.group.ddl(region, { type: 'split', ...splitAt('m', child) });
    const split = node.group.splitRegion(region, splitAt('m', child));
    await new Promise((r) => setTimeout(r, 50));
    removeFailPoint('before_region_gen_snap');
    // It captured the range from before, and a snapshot of the whole region would hold the routes up.
    expect(await failure(early)).toMatchObject({ code: 'Cancelled' });
    await split;
    // The parent's latest flush holds its half only: a fresh node opening it finds nothing past 'm'.
    const manifest = (await latestManifest(cluster.storage, region))!;
    expect(manifest.epoch).toEqual(SPLIT);
    expect(manifestRange(manifest)).toEqual(keyRange('', 'm'));
    await node.shutdown();
    const other = await cluster.node();
    await other.group.ddl(region, { type: 'open', range: keyRange('', 'm'), epoch: SPLIT, role: 'Follower' });
    expect((await mvccGet(other.engine, b('a')))?.toString()).toBe('1');
    expect(await mvccGet(other.engine, b('t'))).toBeUndefined();
  });

  it('a copy of the whole range closed for good leaves a copy of a half beside it alone', async () => {
    const fast = { resolvedTsIntervalMs: 50, followerTailBlockMs: 50 };
    const leader = await cluster.node({ config: fast });
    const follower = await cluster.node({ config: fast });
    const region = freshRegion();
    const child = freshChild();
    await leader.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await leader.group.write({ regionId: region, mutations: [put('a', '1'), put('t', '2')] });
    await follower.group.ddl(region, { type: 'open', range: ALL, epoch: EPOCH, role: 'Follower' });
    await leader.group.splitRegion(region, splitAt('m', child));
    // The follower node gets a copy of the child while its copy of the whole range is still open.
    await follower.group.ddl(child, {
      type: 'open',
      range: keyRange('m', ''),
      epoch: SPLIT,
      role: 'Follower',
    });
    await follower.group.ddl(region, { type: 'close', destroy: true, epoch: SPLIT });
    const pending = (range: ReturnType<typeof keyRange>) => {
      const bounds = regionDataBounds(range);
      return follower.runner.pendingDeleteRanges.findOverlapRanges(bounds.start, bounds.end).length;
    };
    expect(pending(keyRange('', 'm'))).toBe(1);
    expect(pending(keyRange('m', ''))).toBe(0);
    for (let i = 0; i < follower.runner.config.cleanStaleTick; i++) await follower.runner.tick();
    expect((await mvccGet(follower.engine, b('t')))?.toString()).toBe('2');
  });

  it('answers a repeated split as before, and refuses a key outside the region or a stale epoch', async () => {
    const node = await cluster.node();
    const region = freshRegion();
    const child = freshChild();
    await node.group.ddl(region, { type: 'create', range: keyRange('c', 'x'), epoch: EPOCH });
    await node.group.write({ regionId: region, mutations: [put('d', '1'), put('p', '2')] });
    expect(await failure(node.group.splitRegion(region, splitAt('c', child)))).toMatchObject({
      code: 'InvalidArgument',
    });
    expect(await failure(node.group.splitRegion(region, splitAt('y', child)))).toMatchObject({
      code: 'InvalidArgument',
    });
    await node.group.splitRegion(region, splitAt('k', child));
    // A retried job (the metasrv lost the answer): nothing changes, and both are still whole.
    await node.group.splitRegion(region, splitAt('k', child));
    expect(node.group.getRegion(child)!.range).toEqual(keyRange('k', 'x'));
    expect(node.group.getRegion(child)!.lastEntryId).toBe(0);
    expect(await failure(node.group.splitRegion(region, splitAt('f', freshChild())))).toMatchObject({
      code: 'EpochNotMatch',
    });
    expect((await mvccGet(node.engine, b('p')))?.toString()).toBe('2');
  });

  it('answers a split asked for twice at once (a job delivered again) alike: the child still copies its parent’s flush', async () => {
    const node = await cluster.node();
    const region = await flushedRegion(node, ['a', 't']);
    const child = freshChild();
    await node.group.write({ regionId: region, mutations: [put('b', '2'), put('u', '2')] });
    const [first, second] = await Promise.all([
      node.group.splitRegion(region, splitAt('m', child)),
      node.group.splitRegion(region, splitAt('m', child)),
    ]);
    expect(second.lastEntryId).toBe(first.lastEntryId);
    // Neither fell back to flushing the child whole.
    expect((await latestManifest(cluster.storage, child))!.inheritedFrom).toBe(region.toString());
    await node.shutdown();
    const other = await cluster.node();
    await other.group.ddl(child, { type: 'open', range: keyRange('m', ''), epoch: SPLIT, role: 'Follower' });
    expect(await storedKeys(other.engine)).toEqual(['t', 'u']);
  });

  it('a split whose node restarted halfway opens the child again from its local state', async () => {
    const node = await cluster.node({ nodeId: 'restarting' });
    const region = freshRegion();
    const child = freshChild();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    await node.group.write({ regionId: region, mutations: [put('a', '1'), put('t', '2')] });
    await node.group.ddl(region, { type: 'split', ...splitAt('m', child) }); // the first step only
    await node.shutdown();
    // The node comes back; its region is reopened from the route, which still names the whole range.
    const again = await cluster.node({ nodeId: 'restarting' });
    await again.group.ddl(region, { type: 'open', range: ALL, epoch: EPOCH, role: 'Leader' });
    await again.group.splitRegion(region, splitAt('m', child));
    expect(again.group.getRegion(region)!.range).toEqual(keyRange('', 'm'));
    expect(again.group.getRegion(child)!.range).toEqual(keyRange('m', ''));
    expect((await mvccGet(again.engine, b('t')))?.toString()).toBe('2');
    expect(manifestRange((await latestManifest(cluster.storage, child))!)).toEqual(keyRange('m', ''));
  });

  it('leaves the latest pointers of deletes a GC dropped in keys the split gave away during it', async () => {
    const node = await cluster.node();
    const region = freshRegion();
    const child = freshChild();
    await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
    const deleted: Record<string, bigint> = {};
    for (const key of ['c', 'x']) {
      await node.group.write({ regionId: region, mutations: [put(key, '1')] });
      deleted[key] = (
        await node.group.write({ regionId: region, mutations: [{ op: 'delete', key: b(key) }] })
      ).commitTs;
    }
    node.group.advanceGcSafePoint(deleted['x']!);
    // The GC has collected, and ends only after the split: its split-off keys take writes on the
    // child's worker by then.
    configureFailPoint('region_gc_collected', 'pause');
    const collecting = node.group.ddl(region, { type: 'compact' });
    await until(async () => failPointHits('region_gc_collected') > 0, 'the GC to collect');
    await node.group.splitRegion(region, splitAt('m', child));
    removeFailPoint('region_gc_collected');
    await collecting;
    // Both deletes were collected; only the parent's own key lost its pointer, from the parent's worker.
    expect(await mvccGet(node.engine, b('x'), deleted['x']! - 1n)).toBeUndefined();
    expect(await latestTimestamps(node.engine, [b('c'), b('x')])).toEqual([undefined, deleted['x']]);
  });
});

/** The user keys with versions in the engine's `default` CF, whatever region they belong to. */
async function storedKeys(engine: KvEngine): Promise<string[]> {
  const keys = new Set<string>();
  for await (const entry of engine.iterate(CF_DEFAULT, mvccRange(ALL)))
    keys.add(decodeMvccKey(entry.key).key.toString());
  return [...keys].sort();
}

describe('a split its metasrv abandoned while the leader was paused (RangeProcedure.judge)', () => {
  it('the parent commits nothing once fenced for the verdict; the leader back, or a failover, serves both halves whole', async () => {
    const a = await cluster.node();
    const region = await flushedRegion(a, ['a1', 't1']);
    await a.group.write({ regionId: region, mutations: [put('a2', '2'), put('t2', '2')] });
    const child = freshChild();
    const hits = failPointHits('region_flush_manifest_write');
    configureFailPoint('region_flush_manifest_write', '1*pause');
    const split = a.group.splitRegion(region, splitAt('m', child));
    // Paused with the child's copies committed and the parent's manifest not yet written.
    await until(() => failPointHits('region_flush_manifest_write') > hits, 'the split flush at its manifest');
    expect((await latestManifest(cluster.storage, child))?.inheritedFrom).toBe(region.toString());

    // The metasrv's verdict: the parent fenced one placement on (still naming the leader), its flushes
    // read (the whole range, at the epoch before the split), the split abandoned: the child retired.
    const wal = await cluster.wal();
    await wal.setFence(region, { nodeId: a.nodeId, epoch: 2 });
    const flushed = await committedManifest({ storage: cluster.storage, wal }, region);
    expect(flushed?.manifest.epoch).toEqual(EPOCH);
    await wal.retire(child);
    await retireObjects(cluster.storage, child);

    removeFailPoint('region_flush_manifest_write');
    expect(await failure(split)).toMatchObject({ code: 'NotLeader' });

    // The leader comes back: the heartbeat repair opens the parent at the route the abandon kept (the
    // whole range, one placement on); its half-range copy from the split is not that region.
    const kept = { version: 1, confVer: 2 };
    expect(a.group.getRegion(child)?.range).toEqual(keyRange('m', ''));
    await a.group.ddl(region, { type: 'open', range: ALL, epoch: kept, role: 'Leader' });
    expect(a.group.getRegion(region)).toMatchObject({ range: ALL, epoch: kept, role: 'Leader' });
    // The abandoned child, open over the right half with its WAL retired, was closed first: its GC
    // would otherwise run over the parent's data there.
    expect(a.group.getRegion(child)).toBeUndefined();
    // A late copy of the split job, asked at the placement before, changes nothing.
    expect(await failure(a.group.splitRegion(region, splitAt('m', freshChild())))).toMatchObject({
      code: 'EpochNotMatch',
    });
    await a.group.write({ regionId: region, mutations: [put('u', '3')] });
    await a.group.ddl(region, { type: 'flush', full: true });
    const all = ['a1', 't1', 'a2', 't2', 'u'];
    const onA = async (key: string) => (await mvccGet(a.engine, b(key)))?.toString();
    expect(await Promise.all(all.map(onA))).toEqual(['1', '1', '2', '2', '3']);
    await a.crash();
    // A failover from there: every write of both halves is in the object store and the WAL.
    const b2 = await cluster.leaderAt(region, 3);
    const read = async (key: string) => (await mvccGet(b2.engine, b(key)))?.toString();
    expect(await Promise.all(all.map(read))).toEqual(['1', '1', '2', '2', '3']);
  });

  it('an open over a region open here closes it first when its WAL is retired; a leader open waits for any other', async () => {
    const node = await cluster.node();
    const right = freshRegion();
    await node.group.ddl(right, { type: 'create', range: keyRange('m', ''), epoch: EPOCH });
    await node.group.write({ regionId: right, mutations: [put('t', '1')] });
    const elsewhere = await cluster.node();
    const whole = freshRegion();
    await elsewhere.group.ddl(whole, { type: 'create', range: ALL, epoch: EPOCH });
    await elsewhere.group.write({ regionId: whole, mutations: [put('a', '2'), put('t', '2')] });
    // To lead over a live region here: refused, before anything moves.
    const lead = { type: 'open', range: ALL, epoch: { version: 1, confVer: 2 }, role: 'Leader' } as const;
    expect(await failure(node.group.ddl(whole, lead))).toMatchObject({ code: 'EpochNotMatch' });
    expect(node.group.getRegion(right)?.role).toBe('Leader');
    expect(await (await cluster.wal()).fence(whole)).toMatchObject({ nodeId: elsewhere.nodeId });
    // Retired (a split abandoned), it is closed for good by the next open over it, a follower's too.
    await (await cluster.wal()).retire(right);
    await node.group.ddl(whole, { type: 'open', range: ALL, epoch: EPOCH, role: 'Follower' });
    expect(node.group.getRegion(right)).toBeUndefined();
    expect(node.group.getRegion(whole)?.role).toBe('Follower');
    expect((await mvccGet(node.engine, b('t')))?.toString()).toBe('2');
  });

  it('a split whose child was retired while it waited copies no file for it', async () => {
    const node = await cluster.node();
    const region = await flushedRegion(node, ['a', 't']);
    const child = freshChild();
    const hits = failPointHits('region_split_before_flush');
    configureFailPoint('region_split_before_flush', '1*pause');
    const split = node.group.splitRegion(region, splitAt('m', child));
    await until(() => failPointHits('region_split_before_flush') > hits, 'the split before its flushes');
    await (await cluster.wal()).retire(child); // the metasrv abandoned it meanwhile
    removeFailPoint('region_split_before_flush');
    expect(await failure(split)).toMatchObject({ code: 'NotLeader' });
    expect(await objectNames(cluster.storage, `snapshots/${child.value}/`)).toEqual([]);
    expect(await objectNames(cluster.storage, `deltas/${child.value}/`)).toEqual([]);
  });

  it('refuses for good a split asked at a newer placement than its copy here (behind its route)', async () => {
    const node = await cluster.node();
    const region = await flushedRegion(node, ['a', 't']);
    const ahead = { version: 2, confVer: 2 };
    const split = { splitKey: b('m'), child: freshChild(), epoch: ahead, childEpoch: ahead };
    expect(await failure(node.group.splitRegion(region, split))).toMatchObject({ code: 'InvalidArgument' });
    expect(node.group.getRegion(region)).toMatchObject({ range: ALL, epoch: EPOCH, role: 'Leader' });
  });

  it('a split job that runs after the child was retired changes nothing on the node', async () => {
    const node = await cluster.node();
    const region = await flushedRegion(node, ['a', 't']);
    const child = freshChild();
    await (await cluster.wal()).retire(child);
    expect(await failure(node.group.splitRegion(region, splitAt('m', child)))).toMatchObject({
      code: 'RegionNotFound',
    });
    expect(node.group.getRegion(region)).toMatchObject({ range: ALL, epoch: EPOCH });
    expect(node.group.getRegion(child)).toBeUndefined();
    await node.group.write({ regionId: region, mutations: [put('z', '2')] });
    expect((await mvccGet(node.engine, b('z')))?.toString()).toBe('2');
  });
});

/** A region over the whole key space on `node`, holding `keys` (each at '1'), flushed in full. */
async function flushedRegion(
  node: Awaited<ReturnType<typeof cluster.node>>,
  keys: string[],
): Promise<RegionId> {
  const region = freshRegion();
  await node.group.ddl(region, { type: 'create', range: ALL, epoch: EPOCH });
  await node.group.write({ regionId: region, mutations: keys.map((key) => put(key, '1')) });
  await node.group.ddl(region, { type: 'flush', full: true });
  return region;
}

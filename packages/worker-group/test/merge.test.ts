import {
  RegionId,
  configureFailPoint,
  failPointHits,
  keyRange,
  parseTimestamp,
  removeFailPoint,
} from '@regionstore/core';
import { latestTimestamps, mvccGet, readRegionLocalState } from '@regionstore/engine';
import { committedManifest, latestManifest, manifestRange } from '@regionstore/region-files';
import { EPOCH, b, failure, put, until, useCluster, type TestNode } from './helpers';

const cluster = useCluster('merge');
let next = 1;
const pair = () => [new RegionId(11, next++), new RegionId(11, next++)] as const;
const MERGED = { version: 2, confVer: 1 };
const LEFT = keyRange('', 'm');
const RIGHT = keyRange('m', '');

async function twoRegions(node: TestNode) {
  const [target, source] = pair();
  await node.group.ddl(target, { type: 'create', range: LEFT, epoch: EPOCH });
  await node.group.ddl(source, { type: 'create', range: RIGHT, epoch: EPOCH });
  return { target, source };
}

const mergeOf = (source: RegionId) => ({ source, sourceRange: RIGHT, sourceEpoch: EPOCH, epoch: MERGED });

describe('merge on a node', () => {
  it('the target takes over the source’s range and data under writes; the source takes no more', async () => {
    const node = await cluster.node();
    const { target, source } = await twoRegions(node);
    const acknowledged = new Map<string, string>();
    for (let i = 0; i < 20; i++) {
      await node.group.write({ regionId: target, mutations: [put(`a${i}`, `t${i}`)] });
      await node.group.write({ regionId: source, mutations: [put(`s${i}`, `s${i}`)] });
      acknowledged.set(`a${i}`, `t${i}`).set(`s${i}`, `s${i}`);
    }
    await node.group.ddl(source, { type: 'flush' }); // some of the source's data flushed, some only in its WAL
    const lastOfSource = await node.group.write({ regionId: source, mutations: [put('s-unflushed', 'u')] });
    acknowledged.set('s-unflushed', 'u');

    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const key = `s-during${i}`;
        await node.group
          .write({ regionId: source, mutations: [put(key, 'd')] })
          .then(() => acknowledged.set(key, 'd'))
          .catch((err: { code?: string }) => expect(['NotLeader', 'RegionNotFound']).toContain(err.code));
        await new Promise((r) => setImmediate(r));
      }
    })();
    await new Promise((r) => setTimeout(r, 10));
    await node.group.mergeRegions(target, mergeOf(source));
    writing = false;
    await writer;

    expect(node.group.getRegion(target)!.range).toEqual(keyRange('', ''));
    expect(node.group.getRegion(target)!.epoch).toEqual(MERGED);
    // The merged region commits above everything the source held, wherever it moves next.
    expect(node.group.getRegion(target)!.maxTs).toBeGreaterThanOrEqual(lastOfSource.commitTs);
    // …and so does its flush: the manifest's maxTs covers the source's commits, not only the target's.
    const flushedMaxTs = (await latestManifest(cluster.storage, target))!.maxTs;
    expect(parseTimestamp(flushedMaxTs!)).toBeGreaterThanOrEqual(lastOfSource.commitTs);
    expect(node.group.getRegion(source)).toBeUndefined();
    expect((await readRegionLocalState(node.engine, source))?.state).toBe('Tombstone');
    await node.group.write({ regionId: target, mutations: [put('z-after', 'merged')] });
    acknowledged.set('z-after', 'merged');
    for (const [key, value] of acknowledged)
      expect((await mvccGet(node.engine, b(key)))?.toString()).toBe(value);

    // The target's manifest holds both ranges: a fresh node opening it loads every key.
    expect(manifestRange((await latestManifest(cluster.storage, target))!)).toEqual(keyRange('', ''));
    await node.shutdown();
    const other = await cluster.node();
    await other.group.ddl(target, {
      type: 'open',
      range: keyRange('', ''),
      epoch: { version: 2, confVer: 2 },
      role: 'Leader',
    });
    for (const [key, value] of acknowledged)
      expect((await mvccGet(other.engine, b(key)))?.toString()).toBe(value);
  });

  it('the merged target’s flush never writes over a file a manifest names', async () => {
    // Same term, same entry, a wider range: under a shared name the target's file before the merge
    // would change under the manifest that names it, which a merge abandoned keeps.
    const node = await cluster.node();
    const { target, source } = await twoRegions(node);
    await node.group.write({ regionId: target, mutations: [put('a', '1')] });
    await node.group.ddl(target, { type: 'flush', full: true });
    await node.group.write({ regionId: source, mutations: [put('t', '1')] });
    const before = (await latestManifest(cluster.storage, target))!;
    const overwritten: string[] = [];
    const write = cluster.storage.write.bind(cluster.storage);
    cluster.storage.write = async (name, data) => {
      if (await cluster.storage.exists(name)) overwritten.push(name);
      return write(name, data);
    };
    try {
      await node.group.mergeRegions(target, mergeOf(source));
      await node.group.ddl(target, { type: 'flush', full: true });
    } finally {
      cluster.storage.write = write;
    }
    const after = (await latestManifest(cluster.storage, target))!;
    expect(after).toMatchObject({ walEntryId: before.walEntryId, term: before.term, kvCount: 2 });
    expect(after.snapshot).not.toBe(before.snapshot);
    expect(overwritten).toEqual([]);
  });

  it('answers a repeated merge as before, and refuses a region that is not adjacent or a stale epoch', async () => {
    const node = await cluster.node();
    const { target, source } = await twoRegions(node);
    const [far] = pair();
    await node.group.ddl(far, { type: 'create', range: keyRange('x', 'y'), epoch: EPOCH });
    expect(
      await failure(
        node.group.ddl(target, {
          type: 'merge',
          source: far,
          sourceRange: keyRange('x', 'y'),
          sourceEpoch: EPOCH,
          epoch: MERGED,
        }),
      ),
    ).toMatchObject({ code: 'InvalidArgument' });
    await node.group.write({ regionId: source, mutations: [put('s', '1')] });
    await node.group.mergeRegions(target, mergeOf(source));
    await node.group.mergeRegions(target, mergeOf(source));
    expect(node.group.getRegion(target)!.range).toEqual(keyRange('', ''));
    expect(
      await failure(
        node.group.ddl(target, {
          type: 'merge',
          source: far,
          sourceRange: keyRange('x', 'y'),
          sourceEpoch: EPOCH,
          epoch: { version: 1, confVer: 1 },
        }),
      ),
    ).toMatchObject({ code: 'EpochNotMatch' });
    expect((await mvccGet(node.engine, b('s')))?.toString()).toBe('1');
  });

  it('leaves the latest pointers of deletes a GC dropped to the target once the source is prepared', async () => {
    const node = await cluster.node();
    const { target, source } = await twoRegions(node);
    await node.group.write({ regionId: source, mutations: [put('s', '1')] });
    const { commitTs: deletedAt } = await node.group.write({
      regionId: source,
      mutations: [{ op: 'delete', key: b('s') }],
    });
    node.group.advanceGcSafePoint(deletedAt);
    // The source's GC has collected, and ends only after the merge: the target takes writes to the
    // source's keys by then.
    configureFailPoint('region_gc_collected', 'pause');
    const collecting = node.group.ddl(source, { type: 'compact' });
    await until(async () => failPointHits('region_gc_collected') > 0, 'the GC to collect');
    await node.group.ddl(source, { type: 'prepareMerge' });
    await node.group.ddl(target, { type: 'merge', ...mergeOf(source) });
    removeFailPoint('region_gc_collected');
    await collecting;
    expect(await mvccGet(node.engine, b('s'), deletedAt - 1n)).toBeUndefined(); // collected
    expect(await latestTimestamps(node.engine, [b('s')])).toEqual([deletedAt]);
    await node.group.mergeRegions(target, mergeOf(source)); // the rest of the merge: the source closes
    expect(node.group.getRegion(source)).toBeUndefined();
  });
});

describe('a merge its metasrv abandoned while the leader was paused (RangeProcedure.judge)', () => {
  it('refuses for good a merge asked at a newer placement than either copy here (behind its route)', async () => {
    const node = await cluster.node();
    const { target, source } = await twoRegions(node);
    const ahead = { ...mergeOf(source), epoch: { version: 2, confVer: 2 } };
    expect(await failure(node.group.mergeRegions(target, ahead))).toMatchObject({ code: 'InvalidArgument' });
    const sourceAhead = { ...mergeOf(source), sourceEpoch: { version: 1, confVer: 2 } };
    expect(await failure(node.group.mergeRegions(target, sourceAhead))).toMatchObject({
      code: 'InvalidArgument',
    });
    expect(node.group.getRegion(source)?.role).toBe('Leader'); // never prepared
    expect(node.group.getRegion(target)?.range).toEqual(LEFT);
  });

  it.each(['source', 'target'])(
    'the leader back reopens both as the routes kept them (%s first): no write of either is lost',
    async (first) => {
      const a = await cluster.node();
      const { target, source } = await twoRegions(a);
      await a.group.write({ regionId: target, mutations: [put('a1', '1')] });
      await a.group.write({ regionId: source, mutations: [put('s1', '1')] });
      await a.group.ddl(source, { type: 'flush', full: true });
      await a.group.write({ regionId: source, mutations: [put('s2', '2')] }); // in its WAL only
      const hits = failPointHits('region_flush_manifest_write');
      configureFailPoint('region_flush_manifest_write', '1*pause');
      const merging = a.group.mergeRegions(target, mergeOf(source));
      await until(
        () => failPointHits('region_flush_manifest_write') > hits,
        'the merge flush at its manifest',
      );

      // The verdict: both regions fenced one placement on; the target's flush is still its own range.
      const wal = await cluster.wal();
      for (const id of [target, source]) await wal.setFence(id, { nodeId: a.nodeId, epoch: 2 });
      const flushed = await committedManifest({ storage: cluster.storage, wal }, target);
      expect(flushed?.manifest.epoch).toEqual(EPOCH);
      removeFailPoint('region_flush_manifest_write');
      expect(await failure(merging)).toMatchObject({ code: 'NotLeader' });

      // The heartbeat repairs at the routes the abandon kept, in either order. The source's open waits
      // (refused) while the target's merged copy still spans its range: a repair asks again.
      const kept = { version: 1, confVer: 2 };
      const repairs = [
        { id: source, range: RIGHT },
        { id: target, range: LEFT },
      ];
      if (first === 'target') repairs.reverse();
      const refused: typeof repairs = [];
      for (const repair of repairs) {
        const open = { type: 'open', range: repair.range, epoch: kept, role: 'Leader' } as const;
        await a.group.ddl(repair.id, open).catch((err: { code?: string }) => {
          expect(err.code).toBe('EpochNotMatch');
          refused.push(repair);
        });
      }
      expect(refused.map((r) => r.id)).toEqual(first === 'source' ? [source] : []);
      for (const { id, range } of refused)
        await a.group.ddl(id, { type: 'open', range, epoch: kept, role: 'Leader' });
      // A late copy of the merge job, asked at the placements before, changes nothing.
      expect(await failure(a.group.mergeRegions(target, mergeOf(source)))).toMatchObject({
        code: 'EpochNotMatch',
      });
      expect(a.group.getRegion(source)?.role).toBe('Leader');
      await a.group.write({ regionId: source, mutations: [put('s3', '3')] });
      await a.group.write({ regionId: target, mutations: [put('a2', '2')] });
      const all = ['a1', 'a2', 's1', 's2', 's3'];
      const values = ['1', '2', '1', '2', '3'];
      const onA = async (key: string) => (await mvccGet(a.engine, b(key)))?.toString();
      expect(await Promise.all(all.map(onA))).toEqual(values);
      for (const id of [target, source]) await a.group.ddl(id, { type: 'flush', full: true });
      await a.crash();

      const b2 = await cluster.node();
      const failover = { version: 1, confVer: 3 };
      await b2.group.ddl(target, { type: 'open', range: LEFT, epoch: failover, role: 'Leader' });
      await b2.group.ddl(source, { type: 'open', range: RIGHT, epoch: failover, role: 'Leader' });
      const onB = async (key: string) => (await mvccGet(b2.engine, b(key)))?.toString();
      expect(await Promise.all(all.map(onB))).toEqual(values);
    },
  );
});

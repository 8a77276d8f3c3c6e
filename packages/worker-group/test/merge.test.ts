import { RegionId, keyRange, parseTimestamp } from '@regionstore/core';
import { mvccGet, readRegionLocalState } from '@regionstore/engine';
import { latestManifest, manifestRange } from '@regionstore/worker-group';
import { EPOCH, b, failure, put, useCluster, type TestNode } from './helpers';

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
});

import { join } from 'node:path';
import { RegionId, keyRange, type KeyRange } from '@regionstore/core';
import { RedisLogStore } from '@regionstore/log-store';
import { mintClusterRecord, silentLogger, writeObjectStoreRecord } from '@regionstore/runtime';
import { LocalStorage } from '@regionstore/storage-backends';
import type { RegionRoute } from '@regionstore/supervisor';
import { useRedisNamespace, useTempDir } from '@regionstore/testing';
import { emptyManifest, writeManifest } from '@regionstore/region-files';
import type { MetasrvClusterIdentity } from '../src/cluster-identity';
import { ClusterRecovery } from '../src/cluster-recovery';
import type { ClusterStore } from '../src/cluster-store';
import type { NodeTaskClient } from '../src/node-client';

const ns = useRedisNamespace('metasrv-recovery');
const dir = useTempDir('metasrv-recovery');

/** A recovery over `objects` and `wal`, with the routes Redis still holds (`held`), writing to `routes`. */
function recoveryOf(
  objects: LocalStorage,
  wal: RedisLogStore,
  held: (id: RegionId) => RegionRoute | undefined = () => undefined,
) {
  const routes: RegionRoute[] = [];
  const recovery = new ClusterRecovery({
    identity: {
      objects,
      redis: { read: async () => undefined, restore: async () => undefined },
      forBootstrap: async () => undefined,
      clearProblem: () => undefined,
    } as unknown as MetasrvClusterIdentity,
    store: {
      nodes: async () => [],
      get: async (id: RegionId) => held(id),
      put: async (route: RegionRoute) => void routes.push(route),
    } as unknown as ClusterStore,
    nodes: {} as NodeTaskClient,
    wal,
    logger: silentLogger(),
  });
  return { recovery, routes };
}

/** A region's first manifest, as its creation writes it. */
async function manifestOf(objects: LocalStorage, regionId: RegionId, range: KeyRange, version: number) {
  await writeManifest(
    objects,
    emptyManifest(
      { nodeId: 'node-1', time: { now: () => 0 } },
      { regionId, range, epoch: { version, confVer: 1 } },
      0,
      undefined,
    ),
  );
}

describe('ClusterRecovery', () => {
  it('skips a retired region whose flushes were left behind, and recovers the others', async () => {
    const objects = new LocalStorage(join(dir.path, 'objects'));
    await writeObjectStoreRecord(objects, mintClusterRecord());
    const wal = new RedisLogStore(await ns.connect(), { prefix: ns.prefix });
    const [live, retired] = [new RegionId(1, 1), new RegionId(1, 2)];
    for (const [regionId, range] of [
      [live, keyRange('', 'm')],
      [retired, keyRange('m', '')],
    ] as const) {
      await manifestOf(objects, regionId, range, 1);
      await wal.setFence(regionId, { nodeId: 'node-1', epoch: 1 });
    }
    // A split abandoned: its child's WAL retired, its flushes not deleted (that step failed).
    await wal.retire(retired);
    const { recovery, routes } = recoveryOf(objects, wal);
    const report = await recovery.recover();
    expect(report.regions.map((r) => r.regionId)).toEqual([live.toString()]);
    expect(report.unrecoverable).toEqual([]);
    expect(routes.map((r) => r.regionId.toString())).toEqual([live.toString()]);
    expect(await wal.position(retired)).toMatchObject({ retired: true });
    await wal.close();
  });

  it('gives overlapping ranges (a split or merge Redis lost mid-way) to the newer epoch version', async () => {
    const objects = new LocalStorage(join(dir.path, 'objects-overlap'));
    await writeObjectStoreRecord(objects, mintClusterRecord());
    const wal = new RedisLogStore(await ns.connect(), { prefix: `${ns.prefix}-overlap` });
    const [parent, child, target, source] = [
      new RegionId(2, 1),
      new RegionId(2, 2),
      new RegionId(2, 3),
      new RegionId(2, 4),
    ];
    const manifests = [
      // A split: the child's manifest is written, the parent's still names the whole range.
      [parent, keyRange('', 'g'), 1],
      [child, keyRange('c', 'g'), 2],
      // A merge: the target's merged manifest is written, the source's is not retired yet.
      [target, keyRange('g', ''), 3],
      [source, keyRange('p', ''), 2],
    ] as const;
    for (const [regionId, range, version] of manifests) await manifestOf(objects, regionId, range, version);
    const { recovery, routes } = recoveryOf(objects, wal);
    const report = await recovery.recover();
    const byId = new Map(routes.map((r) => [r.regionId.toString(), r]));
    expect(byId.get(parent.toString())).toMatchObject({ range: keyRange('', 'c'), epoch: { version: 2 } });
    expect(byId.get(child.toString())).toMatchObject({ range: keyRange('c', 'g'), epoch: { version: 2 } });
    expect(byId.get(target.toString())).toMatchObject({ range: keyRange('g', ''), epoch: { version: 3 } });
    expect(byId.has(source.toString())).toBe(false);
    expect(report.unrecoverable).toEqual([
      { regionId: source.toString(), reason: expect.stringMatching(/regions 2:3 hold all of its range/) },
    ]);
    await wal.close();
  });

  it('leaves a route Redis kept as it is, over a manifest of a split still running', async () => {
    const objects = new LocalStorage(join(dir.path, 'objects-live'));
    await writeObjectStoreRecord(objects, mintClusterRecord());
    const wal = new RedisLogStore(await ns.connect(), { prefix: `${ns.prefix}-live` });
    const [parent, child] = [new RegionId(3, 1), new RegionId(3, 2)];
    const routed: RegionRoute = {
      regionId: parent,
      range: keyRange('', ''),
      leader: 'node-1',
      epoch: { version: 1, confVer: 1 },
      state: 'Normal',
    };
    // The split's leader step ran: the child's manifest and the parent's at the new epoch are written.
    await manifestOf(objects, parent, keyRange('', 'm'), 2);
    await manifestOf(objects, child, keyRange('m', ''), 2);
    const { recovery, routes } = recoveryOf(objects, wal, (id) =>
      id.value === parent.value ? routed : undefined,
    );
    const report = await recovery.recover();
    expect(report.intact).toEqual([parent.toString()]);
    expect(report.unrecoverable).toEqual([
      { regionId: child.toString(), reason: expect.stringMatching(/regions 3:1 hold all of its range/) },
    ]);
    expect(routes).toEqual([]);
    await wal.close();
  });
});

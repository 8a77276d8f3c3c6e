import { RegionStoreClient } from '@regionstore/client';
import { RegionId } from '@regionstore/core';
import { walKeys } from '@regionstore/log-store';
import { PrivateRedisCluster, useTempDir } from '@regionstore/testing';
import { useCluster } from './cluster';
import { loadKey, missing, writeLoad } from './write-load';

// Every process on a real Redis Cluster of the file's own: 3 masters, one replica each.
const clusters = useCluster('e2e-redis-cluster'); // registered first: the apps stop before Redis does
const redisDir = useTempDir('e2e-redis-cluster-servers');
let redis: PrivateRedisCluster | undefined;
beforeAll(async () => {
  redis = await PrivateRedisCluster.start(redisDir.sub('redis'));
}, 90_000);
afterAll(async () => redis?.stop());

const start = (options: { nodes?: number; initialRegions?: number } = {}) =>
  clusters.start({ ...options, redisCluster: redis!.seeds, durability: 'replicas' });

describe('a cluster on Redis Cluster (wal.durability: replicas)', () => {
  it('writes and reads, fails over a kill -9 of a storage node, and moves a region on request', async () => {
    const cluster = await start();
    const client = new RegionStoreClient({ metasrv: cluster.metasrvUrl, retryTimeoutMs: 60_000 });
    const written = new Map<number, string>();
    const put = async (i: number) => {
      await client.put(loadKey(i), Buffer.from(`v${i}`));
      written.set(i, `v${i}`);
    };
    for (let i = 0; i < 200; i++) await put(i);
    expect(await missing(cluster, written)).toEqual([]);

    const routes = await cluster.routes();
    const victim = routes.find((r) => r.regionId === '1:1')!.leader;
    await cluster.kill(victim, 'SIGKILL');
    for (let i = 200; i < 240; i++) await put(i);
    await cluster.waitFor(
      async () => (await cluster.routes()).every((r) => r.leader !== victim),
      'the dead node’s regions to move',
      60_000,
    );
    expect(await missing(cluster, written)).toEqual([]);

    cluster.startNode(Number(victim.split('-')[1]));
    const moving = (await cluster.routes()).find((r) => r.regionId === '1:2')!;
    const to = ['node-1', 'node-2', 'node-3'].find((n) => n !== moving.leader)!;
    await cluster.waitFor(
      () => client.admin('/admin/migrate', { regionId: '1:2', to }),
      'the migration to start',
      30_000,
    );
    await cluster.waitFor(
      async () => (await cluster.routes()).find((r) => r.regionId === '1:2')!.leader === to,
      'region 1:2 to move',
      60_000,
    );
    expect(await missing(cluster, written)).toEqual([]);
  });

  it('backs a cluster up and restores it into another one on the same Redis Cluster', async () => {
    const source = await start({ nodes: 2, initialRegions: 4 });
    const load = writeLoad(source, 4);
    await new Promise((r) => setTimeout(r, 1500));
    const written = await load.stop();
    const client = new RegionStoreClient({ metasrv: source.metasrvUrl, retryTimeoutMs: 60_000 });
    const storage = `local://${clusters.scratch('backup')}`;
    expect(await client.backup({ storage })).toMatchObject({ status: 'Done', kvs: written.size });
    await source.stop();

    const target = await start({ nodes: 2, initialRegions: 3 });
    const restorer = new RegionStoreClient({ metasrv: target.metasrvUrl, retryTimeoutMs: 60_000 });
    expect(await restorer.restore(storage)).toMatchObject({ status: 'Done' });
    expect(await missing(target, written)).toEqual([]);
  });

  it('loses no acknowledged write when a Redis master is killed -9 under writes (its replica takes over)', async () => {
    const cluster = await start();
    const load = writeLoad(cluster, 8);
    await new Promise((r) => setTimeout(r, 3000));
    // The master holding region 1:0's WAL, and so a share of every write.
    const slot = await redis!.slotOf(walKeys(cluster.prefix, RegionId.parse('1:0')).log);
    const master = await redis!.masterOf(slot);
    const before = load.acked.size;
    await master.kill('SIGKILL');
    await cluster.waitFor(
      async () => (await redis!.masterOf(slot)).port !== master.port,
      'a replica to be promoted',
      30_000,
    );
    // The promoted master has no replica to WAIT for until the old one comes back as its replica.
    await master.restart();
    // Writes go on after the promotion (how soon depends on the machine's load).
    await cluster.waitFor(async () => load.acked.size > before + 50, 'writes to go on', 60_000);
    const acked = await load.stop();
    expect(before).toBeGreaterThan(50);
    expect(acked.size).toBeGreaterThan(before + 50); // writes went on after the promotion
    expect(await missing(cluster, acked)).toEqual([]);
  });
});

import { PrivateRedisSentinel, useTempDir } from '@regionstore/testing';
import { useCluster } from './cluster';
import { missing, writeLoad } from './write-load';

// Every process finds the Redis primary through a Sentinel (a primary, one replica, one Sentinel).
const clusters = useCluster('e2e-redis-sentinel'); // registered first: the apps stop before Redis does
const redisDir = useTempDir('e2e-redis-sentinel-servers');
let redis: PrivateRedisSentinel | undefined;
afterAll(async () => redis?.stop());

describe('a cluster behind Redis Sentinel (wal.durability: replicas)', () => {
  it('loses no acknowledged write when the primary and a storage node are killed -9 together under writes', async () => {
    redis = await PrivateRedisSentinel.start(redisDir.sub('redis'));
    const cluster = await clusters.start({
      redisSentinels: { sentinels: [redis.sentinelUrl], name: redis.name },
      durability: 'replicas',
    });
    const load = writeLoad(cluster, 8);
    await new Promise((r) => setTimeout(r, 3000));
    const before = load.acked.size;
    const victim = (await cluster.routes())[0]!.leader;
    await Promise.all([redis.primary.kill('SIGKILL'), cluster.kill(victim, 'SIGKILL')]);
    await cluster.waitFor(
      async () => (await redis!.primaryPort()) === redis!.replica.port,
      'Sentinel to promote the replica',
      30_000,
    );
    // The new primary has no replica to WAIT for until the old one comes back (Sentinel makes it one).
    await redis.primary.restart();
    cluster.startNode(Number(victim.split('-')[1]));
    await redis.waitForReplica();
    // Writes go on against the new primary (how soon depends on the machine's load).
    await cluster.waitFor(async () => load.acked.size > before + 50, 'writes to go on', 60_000);
    const acked = await load.stop();
    expect(before).toBeGreaterThan(50);
    expect(acked.size).toBeGreaterThan(before + 50); // writes went on against the new primary
    expect(await missing(cluster, acked)).toEqual([]);
  });
});

import { PrivateRedisServer, useTempDir } from '@regionstore/testing';
import { useCluster } from './cluster';
import { missing, writeLoad } from './write-load';

// Registered first, so the cluster stops before its Redis does.
const clusters = useCluster('e2e-durability');
const redisDir = useTempDir('e2e-durability-redis');
let redis: PrivateRedisServer | undefined;
afterAll(async () => redis?.kill());

describe('durability (wal.durability: fsync, Redis with appendfsync always)', () => {
  it('loses no acknowledged write when Redis and a storage node are killed -9 together under writes', async () => {
    redis = await PrivateRedisServer.start(redisDir.sub('redis'));
    const cluster = await clusters.start({ nodes: 3, redisUrl: redis.url, durability: 'fsync' });
    const load = writeLoad(cluster, 8);
    await new Promise((r) => setTimeout(r, 3000));
    const victim = (await cluster.routes())[0]!.leader;
    const before = load.acked.size;
    await Promise.all([redis.kill('SIGKILL'), cluster.kill(victim, 'SIGKILL')]);
    await new Promise((r) => setTimeout(r, 1500));
    await redis.restart();
    cluster.startNode(Number(victim.split('-')[1]));
    await new Promise((r) => setTimeout(r, 8000));
    const acked = await load.stop();
    expect(before).toBeGreaterThan(50);
    expect(acked.size).toBeGreaterThan(before); // writes went on after the crash

    expect(await missing(cluster, acked)).toEqual([]);
  });
});

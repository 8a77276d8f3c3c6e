import { RegionStoreClient } from '@regionstore/client';
import { PrivateRedisServer, useTempDir } from '@regionstore/testing';
import { useCluster } from './cluster';

// Registered first, so the cluster stops before its Redis does.
const clusters = useCluster('e2e-durability');
const redisDir = useTempDir('e2e-durability-redis');
let redis: PrivateRedisServer | undefined;
afterAll(async () => redis?.kill());

const key = (i: number) => Buffer.from([(i * 37) % 256, ...Buffer.from(`durable-${i}`)]);

describe('durability (wal.durability: fsync, Redis with appendfsync always)', () => {
  it('loses no acknowledged write when Redis and a storage node are killed -9 together under writes', async () => {
    redis = await PrivateRedisServer.start(redisDir.sub('redis'));
    const cluster = await clusters.start({ nodes: 3, redisUrl: redis.url, durability: 'fsync' });
    const acked = new Map<number, string>();
    let next = 0;
    let writing = true;
    const writers = Array.from({ length: 8 }, async () => {
      const client = new RegionStoreClient({ metasrv: cluster.metasrvUrl, retryTimeoutMs: 60_000 });
      while (writing) {
        const i = next++;
        try {
          await client.put(key(i), Buffer.from(`v${i}`));
          acked.set(i, `v${i}`);
        } catch {
          // not acknowledged: the checker below only holds the acknowledged ones to account
        }
      }
    });
    await new Promise((r) => setTimeout(r, 3000));
    const victim = (await cluster.routes())[0]!.leader;
    const before = acked.size;
    await Promise.all([redis.kill('SIGKILL'), cluster.kill(victim, 'SIGKILL')]);
    await new Promise((r) => setTimeout(r, 1500));
    await redis.restart();
    cluster.startNode(Number(victim.split('-')[1]));
    await new Promise((r) => setTimeout(r, 8000));
    writing = false;
    await Promise.all(writers);
    expect(before).toBeGreaterThan(50);
    expect(acked.size).toBeGreaterThan(before); // writes went on after the crash

    const reader = new RegionStoreClient({ metasrv: cluster.metasrvUrl, retryTimeoutMs: 60_000 });
    const ids = [...acked.keys()];
    const values = await reader.batchGet(ids.map(key));
    const lost = ids.filter((id, at) => values[at]?.toString() !== acked.get(id));
    expect(lost).toEqual([]);
  });
});

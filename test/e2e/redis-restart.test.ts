import { RegionStoreClient } from '@regionstore/client';
import { PrivateRedisServer, useTempDir } from '@regionstore/testing';
import { useCluster } from './cluster';

// Registered first, so the cluster stops before its Redis does.
const clusters = useCluster('e2e-redis-restart');
const redisDir = useTempDir('e2e-redis-restart-server');
let redis: PrivateRedisServer | undefined;
afterAll(async () => redis?.kill());

const key = (i: number) => Buffer.from(`restart-${String(i).padStart(4, '0')}`);

describe('a Redis restart under a running cluster', () => {
  it('loses no acknowledged write, and every app reconnects and keeps consuming jobs', async () => {
    redis = await PrivateRedisServer.start(redisDir.sub('redis'));
    const cluster = await clusters.start({
      nodes: 2,
      initialRegions: 2,
      redisUrl: redis.url,
      durability: 'fsync',
    });
    const m = cluster.metasrvUrl;
    const client = new RegionStoreClient({ metasrv: m, retryTimeoutMs: 60_000 });
    for (let i = 0; i < 100; i++) await client.put(key(i), Buffer.from(`before-${i}`));

    await redis.kill('SIGKILL');
    const down = Date.now();
    // writes while Redis is down wait (the WAL is in Redis) and go through once it is back
    const during = Array.from({ length: 20 }, (_, j) => client.put(key(100 + j), Buffer.from(`during-${j}`)));
    await new Promise((r) => setTimeout(r, 2000));
    await redis.restart();
    await Promise.all(during);
    console.log(`redis restart: writes resumed ${((Date.now() - down) / 1000).toFixed(1)} s after the kill`);
    for (let i = 120; i < 200; i++) await client.put(key(i), Buffer.from(`after-${i}`));

    // The metasrv's lease may have lapsed during the outage: it takes leadership back by itself, and
    // admin calls through the client wait for that (NotLeader is retried).
    // The node task workers consume again: a backup (one job per region) and a migration (four jobs).
    const backup = await client.admin('/admin/backup', {
      storage: `local://${cluster.dir}/backup`,
      endVersion: String(BigInt(Date.now()) << 18n),
    });
    expect(backup).toMatchObject({ status: 'Done', kvs: 200 });
    const [first, second] = await cluster.routes();
    await client.admin('/admin/migrate', { regionId: first!.regionId, to: second!.leader });
    await cluster.waitFor(
      async () => (await cluster.routes())[0]!.leader === second!.leader,
      'a migration after the restart',
      60_000,
    );

    // heartbeats flow again: both nodes are alive to the metasrv
    const status = (await (await fetch(`${m}/admin/status`)).json()) as { nodes: Array<{ state: string }> };
    expect(status.nodes.map((n) => n.state)).toEqual(['alive', 'alive']);
    const values = await client.batchGet(Array.from({ length: 200 }, (_, i) => key(i)));
    values.forEach((v, i) =>
      expect(v?.toString()).toBe(i < 100 ? `before-${i}` : i < 120 ? `during-${i - 100}` : `after-${i}`),
    );
    await cluster.stop();
  });
});

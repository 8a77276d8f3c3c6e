import { RegionId } from '@regionstore/core';
import { Cluster, createRedis, waitForRedis, type RedisClient } from '@regionstore/runtime';
import { RedisLogStore, checkWalDurability } from '@regionstore/log-store';
import { PrivateRedisCluster, useTempDir } from '@regionstore/testing';

// A real Redis Cluster: 3 masters, each with one replica.
const dir = useTempDir('log-store-cluster');
let cluster: PrivateRedisCluster;
let redis: RedisClient;
beforeAll(async () => {
  cluster = await PrivateRedisCluster.start(dir.sub('cluster'));
  redis = createRedis({ kind: 'cluster', seeds: cluster.seeds }, 'client');
  await waitForRedis(redis, 10_000);
}, 90_000);
afterAll(async () => {
  redis?.disconnect();
  await cluster?.stop();
});

const slotOf = async (key: string) => Number(await redis.call('CLUSTER', 'KEYSLOT', key));

describe('RedisLogStore on Redis Cluster', () => {
  it('connects as a cluster and spreads regions over the masters (one slot per region)', async () => {
    expect(redis).toBeInstanceOf(Cluster);
    const wal = new RedisLogStore(redis, { prefix: 'rc' });
    const owners = new Set<number>();
    for (let i = 0; i < 24; i++) {
      const { log, meta } = wal.keys(new RegionId(1, i));
      expect(await slotOf(log)).toBe(await slotOf(meta));
      owners.add((await cluster.masterOf(await slotOf(log))).port);
    }
    expect(owners.size).toBe(3);
  });

  it('appends under fences, reads back, trims, in replicas mode (WAIT on the master that has the stream)', async () => {
    const wal = new RedisLogStore(redis, { prefix: 'rc', minReplicas: 1, replicaTimeoutMs: 2000 });
    const fence = { nodeId: 'n1', epoch: 1 };
    for (let i = 0; i < 6; i++) {
      const region = new RegionId(2, i);
      await wal.setFence(region, fence);
      expect(await wal.append(region, [Buffer.from('a'), Buffer.from('b')], fence)).toBe(2);
      expect(await wal.append(region, [Buffer.from('c')], fence)).toBe(3);
      await expect(wal.append(region, [Buffer.from('x')], { nodeId: 'n2', epoch: 1 })).rejects.toMatchObject({
        code: 'NotLeader',
      });
      const read: string[] = [];
      for await (const batch of wal.read(region, 1)) read.push(...batch.map((e) => e.data.toString()));
      expect(read).toEqual(['a', 'b', 'c']);
      await wal.commitFlush(region, { fence, manifest: 'm-1', previous: undefined, uptoId: 2 });
      expect(await wal.trimmedEntryId(region)).toBe(2);
    }
  });

  it('checks durability on every master: replicas mode needs a replica behind each one', async () => {
    const options = { minReplicas: 1, replicaTimeoutMs: 1000, configCheck: 'config' as const };
    expect(await checkWalDurability(redis, { ...options, durability: 'replicas' })).toMatchObject({
      verified: true,
      settings: { connectedReplicas: '1' },
    });
    expect(await checkWalDurability(redis, { ...options, durability: 'everysec' })).toMatchObject({
      verified: true,
      settings: { appendonly: 'yes', appendfsync: 'everysec' },
    });
    await expect(checkWalDurability(redis, { ...options, durability: 'fsync' })).rejects.toMatchObject({
      code: 'InvalidConfig',
    });
    // One master changed to `always` does not make the others safe.
    const one = createRedis(cluster.servers[0]!.url, 'client');
    await waitForRedis(one);
    try {
      await one.config('SET', 'appendfsync', 'always');
      await expect(checkWalDurability(redis, { ...options, durability: 'fsync' })).rejects.toThrow(
        /appendfsync is '(always,everysec|everysec,always)'/,
      );
    } finally {
      await one.config('SET', 'appendfsync', 'everysec');
      one.disconnect();
    }
  });
});

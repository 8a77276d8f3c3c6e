import {
  Cluster,
  checkEvictionPolicy,
  createRedis,
  describeRedisTarget,
  redisMasters,
  redisSectionSchema,
  redisTarget,
  waitForRedis,
} from '@regionstore/runtime';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('redis helpers', () => {
  it('reports the eviction policy and warns unless it is noeviction', async () => {
    const redis = createRedis(url, 'client');
    try {
      await waitForRedis(redis);
      const [, actual] = (await redis.config('GET', 'maxmemory-policy')) as string[];
      const warnings: unknown[] = [];
      const logger = { warn: (...args: unknown[]) => warnings.push(args) } as never;
      expect(await checkEvictionPolicy(redis, logger)).toBe(actual);
      expect(warnings).toHaveLength(actual === 'noeviction' ? 0 : 1);
    } finally {
      redis.disconnect();
    }
  });

  it('fails fast on the client role when nothing answers', async () => {
    const redis = createRedis('redis://127.0.0.1:1', 'client', { retryStrategy: () => null });
    redis.on('error', () => undefined);
    await expect(waitForRedis(redis, 300)).rejects.toThrow(/not ready after 300 ms/);
    await expect(redis.ping()).rejects.toThrow();
    redis.disconnect();
  });
});

describe('redis targets', () => {
  it('reads one server, a Redis Cluster or Sentinel from config, cluster over sentinel never both', () => {
    const redisUrl = 'redis://:secret@10.0.0.1:6380/2';
    expect(redisTarget({ redisUrl })).toEqual({ kind: 'single', url: redisUrl });
    const cluster = redisSectionSchema.parse({ cluster: ['redis://a:7000', 'redis://b:7001'] });
    expect(redisTarget({ redisUrl, redis: cluster })).toEqual({
      kind: 'cluster',
      seeds: ['redis://a:7000', 'redis://b:7001'],
    });
    const sentinel = redisSectionSchema.parse({ sentinels: ['s1:26379'] });
    expect(redisTarget({ redisUrl, redis: sentinel })).toEqual({
      kind: 'sentinel',
      sentinels: ['s1:26379'],
      name: 'mymaster',
      url: redisUrl,
    });
    expect(redisSectionSchema.safeParse({ cluster: ['redis://a'], sentinels: ['s'] }).success).toBe(false);
    expect(redisSectionSchema.safeParse({ cluster: [] }).success).toBe(false);
    expect(describeRedisTarget(redisUrl)).toBe('redis://10.0.0.1:6380/2');
    expect(describeRedisTarget({ kind: 'cluster', seeds: ['redis://u:p@a:7000'] })).toBe(
      'cluster redis://a:7000',
    );
  });

  it('makes a Cluster connection for a cluster target, and counts a single server as its only master', async () => {
    const cluster = createRedis({ kind: 'cluster', seeds: ['redis://127.0.0.1:1'] }, 'client', {
      lazyConnect: true,
    });
    expect(cluster).toBeInstanceOf(Cluster);
    cluster.disconnect();
    const single = createRedis(url, 'client');
    try {
      expect(redisMasters(single)).toEqual([single]);
    } finally {
      single.disconnect();
    }
  });
});

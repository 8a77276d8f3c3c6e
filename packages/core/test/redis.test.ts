import { checkEvictionPolicy, createRedis, waitForRedis } from '@regionstore/core';

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

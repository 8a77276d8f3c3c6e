import { randomBytes } from 'node:crypto';
import { createRedis, waitForRedis, type Redis, type RedisRole } from '@regionstore/runtime';

export function testRedisUrl(): string {
  return process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
}

/**
 * A key namespace of its own for one test file: every key, stream and BullMQ queue the file creates
 * lives under `prefix`, and `cleanup` deletes them all, so parallel runs never see each other's data.
 */
export class RedisNamespace {
  readonly prefix: string;
  readonly url = testRedisUrl();
  private readonly connections: Redis[] = [];

  constructor(label = 'test') {
    this.prefix = `rs-test-${label}-${process.pid}-${randomBytes(4).toString('hex')}`;
  }

  /** `prefix:name`. */
  key(name: string): string {
    return `${this.prefix}:${name}`;
  }

  /** A connection closed by `cleanup`. */
  async connect(role: RedisRole = 'client'): Promise<Redis> {
    const redis = createRedis(this.url, role);
    this.connections.push(redis);
    await waitForRedis(redis);
    return redis;
  }

  async cleanup(): Promise<void> {
    const admin = createRedis(this.url, 'client');
    try {
      await waitForRedis(admin);
      let cursor = '0';
      do {
        // Cluster-wide keys carry the prefix in a hash tag (`{prefix}:…`), WAL keys start with it.
        const [next, keys] = await admin.scan(cursor, 'MATCH', `*${this.prefix}*`, 'COUNT', 500);
        cursor = next;
        if (keys.length > 0) await admin.unlink(...keys);
      } while (cursor !== '0');
    } finally {
      admin.disconnect();
      for (const redis of this.connections.splice(0)) redis.disconnect();
    }
  }
}

/** Creates a namespace for the calling test file and deletes its keys after the file's tests. */
export function useRedisNamespace(label?: string): RedisNamespace {
  const namespace = new RedisNamespace(label);
  afterAll(() => namespace.cleanup());
  return namespace;
}

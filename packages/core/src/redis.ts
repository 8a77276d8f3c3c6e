import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from './logger';

export { Redis } from 'ioredis';

/**
 * `worker`: blocking consumers (BullMQ workers, stream readers) that must ride out a Redis restart, so
 * commands wait for the reconnect. `client`: request paths that should fail fast and let callers retry.
 */
export type RedisRole = 'worker' | 'client';

export function createRedis(url: string, role: RedisRole, extra: RedisOptions = {}): Redis {
  const options: RedisOptions =
    role === 'worker'
      ? { maxRetriesPerRequest: null, enableReadyCheck: true }
      : { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 5000 };
  const redis = new Redis(url, {
    retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
    ...options,
    ...extra,
  });
  // A lost connection already fails the commands that need it, and their callers report it; without a
  // listener ioredis also prints every reconnect attempt to stderr as an unhandled error.
  redis.on('error', () => undefined);
  return redis;
}

/**
 * Whether an ioredis error says the command was never sent: Redis is down and the connection does not
 * queue (`client` role), or the connect failed. Nothing was written, so retrying is safe.
 */
export function isRedisUnreachable(err: unknown): boolean {
  return err instanceof Error && /enableOfflineQueue|ECONNREFUSED/.test(err.message);
}

/**
 * Whether an ioredis error leaves the command's outcome unknown: it was sent, then the connection
 * dropped (or gave up retrying) before the reply came. The command may have run.
 */
export function isRedisOutcomeUnknown(err: unknown): boolean {
  return (
    err instanceof Error &&
    /max retries per request|Connection is closed|ECONNRESET|EPIPE|ETIMEDOUT|Command timed out|Socket closed/i.test(
      err.message,
    )
  );
}

/** Waits until a fail-fast connection is ready; ioredis does not queue commands before that. */
export async function waitForRedis(redis: Redis, timeoutMs = 5000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`redis not ready after ${timeoutMs} ms (status ${redis.status})`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
}

/**
 * BullMQ jobs and WAL entries must never be evicted. Returns the policy and logs a warning when it is
 * not `noeviction`.
 */
export async function checkEvictionPolicy(redis: Redis, logger?: Logger): Promise<string> {
  const reply = (await redis.config('GET', 'maxmemory-policy')) as string[];
  const policy = reply[1] ?? 'unknown';
  if (policy !== 'noeviction') {
    logger?.warn({ policy }, 'Redis maxmemory-policy is not noeviction: jobs and WAL entries may be evicted');
  }
  return policy;
}

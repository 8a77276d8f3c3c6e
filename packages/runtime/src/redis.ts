import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Logger } from './logger';
import type { RedisTarget } from './redis-target';

export { Cluster, Redis } from 'ioredis';

/** A connection to one Redis server or to a Redis Cluster; both speak the same commands. */
export type RedisClient = Redis | Cluster;

/**
 * `worker`: blocking consumers (BullMQ workers, stream readers) that must ride out a Redis restart, so
 * commands wait for the reconnect. `client`: request paths that should fail fast and let callers retry.
 */
export type RedisRole = 'worker' | 'client';

/** A connection for `role` (a URL means one server). */
export function createRedis(url: string, role: RedisRole, extra?: RedisOptions): Redis;
export function createRedis(target: RedisTarget | string, role: RedisRole, extra?: RedisOptions): RedisClient;
export function createRedis(
  target: RedisTarget | string,
  role: RedisRole,
  extra: RedisOptions = {},
): RedisClient {
  const resolved: RedisTarget = typeof target === 'string' ? { kind: 'single', url: target } : target;
  const options: RedisOptions = {
    retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
    ...(role === 'worker'
      ? { maxRetriesPerRequest: null, enableReadyCheck: true }
      : { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 5000 }),
    ...extra,
  };
  let redis: RedisClient;
  switch (resolved.kind) {
    case 'single':
      redis = new Redis(resolved.url, options);
      break;
    case 'sentinel': {
      const { password, username, db } = credentials(resolved.url);
      redis = new Redis({
        ...options,
        sentinels: resolved.sentinels.map(hostAndPort),
        name: resolved.name,
        ...(password ? { password, sentinelPassword: password } : {}),
        ...(username ? { username } : {}),
        ...(db ? { db } : {}),
      });
      break;
    }
    case 'cluster': {
      // Nodes found through CLUSTER SLOTS get the seeds' credentials.
      const { password, username } = credentials(resolved.seeds[0]!);
      redis = new Cluster(resolved.seeds, {
        redisOptions: {
          ...options,
          ...(password ? { password } : {}),
          ...(username ? { username } : {}),
        },
        enableOfflineQueue: options.enableOfflineQueue ?? true,
        enableReadyCheck: true,
        clusterRetryStrategy: (attempt) => Math.min(attempt * 100, 2000),
        // A master kill: its replica takes over within a few seconds; commands wait and follow it.
        retryDelayOnFailover: 200,
        retryDelayOnClusterDown: 200,
        retryDelayOnTryAgain: 100,
        maxRedirections: 32,
      });
      break;
    }
  }
  // A lost connection already fails the commands that need it, and their callers report it; without a
  // listener ioredis also prints every reconnect attempt to stderr as an unhandled error.
  redis.on('error', () => undefined);
  return redis;
}

function credentials(url: string): { password?: string; username?: string; db?: number } {
  const parsed = new URL(url);
  return {
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.pathname.length > 1 ? { db: Number(parsed.pathname.slice(1)) } : {}),
  };
}

function hostAndPort(address: string): { host: string; port: number } {
  const url = new URL(address.includes('://') ? address : `redis://${address}`);
  return { host: url.hostname, port: Number(url.port || 26379) };
}

/**
 * The servers that hold data: the masters of a Redis Cluster, or the one server. Settings that decide
 * durability (CONFIG, replication) are per server, so checks run on each.
 */
export function redisMasters(redis: RedisClient): Redis[] {
  return redis instanceof Cluster ? redis.nodes('master') : [redis];
}

/**
 * A CONFIG setting as the masters have it: one value when they agree, the distinct values joined with
 * commas when they do not (a check then sees a value it does not accept). On Redis Cluster every master
 * holds data, so each must be set right.
 */
export async function configOnMasters(redis: RedisClient, name: string): Promise<string> {
  const values = new Set<string>();
  for (const server of redisMasters(redis)) {
    const reply = (await server.config('GET', name)) as string[];
    values.add(reply[1] ?? '');
  }
  return [...values].join(',');
}

/** Waits until a fail-fast connection is ready; ioredis does not queue commands before that. */
export async function waitForRedis(redis: RedisClient, timeoutMs = 5000): Promise<void> {
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
export async function checkEvictionPolicy(redis: RedisClient, logger?: Logger): Promise<string> {
  const policy = (await configOnMasters(redis, 'maxmemory-policy')) || 'unknown';
  if (policy !== 'noeviction') {
    logger?.warn({ policy }, 'Redis maxmemory-policy is not noeviction: jobs and WAL entries may be evicted');
  }
  return policy;
}

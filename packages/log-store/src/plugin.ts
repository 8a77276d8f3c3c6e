// tsyringe needs the Reflect metadata polyfill loaded before it; do it here so importing this package is enough.
import 'reflect-metadata';
import {
  TOKENS,
  createRedis,
  redisTarget,
  waitForRedis,
  type Plugin,
  type RedisClient,
  type RedisSection,
  type Registry,
} from '@regionstore/runtime';
import { instanceCachingFactory } from 'tsyringe';
import { walMinReplicas, type WalDurabilityOptions } from './durability';
import type { LogStore } from './log-store';
import { RedisLogStore } from './redis-log-store';

export interface LogStorePluginConfig {
  redisUrl: string;
  /** Redis Cluster or Sentinel instead of the one server at `redisUrl`. */
  redis?: RedisSection;
  /** The cluster's Redis key prefix. */
  keyPrefix: string;
  /** Only `replicas` durability makes appends wait for replicas. */
  wal?: Partial<Pick<WalDurabilityOptions, 'durability' | 'minReplicas' | 'replicaTimeoutMs'>>;
}

const WAL_REDIS = Symbol.for('regionstore.WalRedis');

/**
 * Binds TOKENS.LogStore to a RedisLogStore on a fail-fast connection of its own; waits for it on start
 * and closes it on stop.
 */
export const logStorePlugin: Plugin<LogStorePluginConfig> = {
  name: 'log-store',
  register(container, config) {
    container.register(WAL_REDIS, {
      useFactory: instanceCachingFactory(() => createRedis(redisTarget(config), 'client')),
    });
    container.register(TOKENS.LogStore, {
      useFactory: instanceCachingFactory((c) => {
        const metrics = c.isRegistered(TOKENS.Metrics, true)
          ? c.resolve<Registry>(TOKENS.Metrics)
          : undefined;
        const wal = config.wal ?? {};
        return new RedisLogStore(c.resolve<RedisClient>(WAL_REDIS), {
          prefix: config.keyPrefix,
          minReplicas: walMinReplicas({
            durability: wal.durability ?? 'unsafe',
            minReplicas: wal.minReplicas ?? 1,
          }),
          ...(wal.replicaTimeoutMs ? { replicaTimeoutMs: wal.replicaTimeoutMs } : {}),
          ...(metrics ? { metrics } : {}),
        });
      }),
    });
  },
  async start(container) {
    // The connection fails fast, so it must be up before the first append.
    await waitForRedis(container.resolve<RedisClient>(WAL_REDIS), 10_000);
  },
  async stop(container) {
    await container.resolve<LogStore>(TOKENS.LogStore).close();
    await container
      .resolve<RedisClient>(WAL_REDIS)
      .quit()
      .catch(() => undefined);
  },
};

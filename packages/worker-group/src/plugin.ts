// tsyringe needs the Reflect metadata polyfill loaded before it; do it here so importing this package is enough.
import 'reflect-metadata';
import { RealTimeProvider, TimestampAllocator, type TimeProvider } from '@regionstore/core';
import { TOKENS, resolveOptional, type Logger, type Plugin, type Registry } from '@regionstore/runtime';
import { ConcurrencyManager, type KvEngine } from '@regionstore/engine';
import type { LogStore } from '@regionstore/log-store';
import { REGION_RUNNER, type RegionRunner } from '@regionstore/region-runner';
import type { ExternalStorage } from '@regionstore/storage-backends';
import { instanceCachingFactory } from 'tsyringe';
import type { WorkerGroupConfigInput } from './config';
import { WorkerGroup } from './worker-group';

export const WORKER_GROUP = Symbol.for('regionstore.WorkerGroup');

/**
 * Binds the node's WorkerGroup over the container's engine, log store, snapshot storage and region
 * runner (register their plugins first), and TOKENS.ConcurrencyManager for readers that check write
 * intents (backup). The group starts with the app; stopping it stops the schedulers, then the
 * workers, before the engine closes.
 */
export const workerGroupPlugin: Plugin<{ nodeId: string; workerGroup?: WorkerGroupConfigInput }> = {
  name: 'worker-group',
  register(container, config) {
    if (!container.isRegistered(TOKENS.ConcurrencyManager, true)) {
      container.register(TOKENS.ConcurrencyManager, {
        useFactory: instanceCachingFactory((c) => {
          const allocator =
            resolveOptional<TimestampAllocator>(c, TOKENS.TimestampAllocator) ??
            new TimestampAllocator(
              resolveOptional<TimeProvider>(c, TOKENS.TimeProvider) ?? new RealTimeProvider(),
            );
          return new ConcurrencyManager(allocator);
        }),
      });
    }
    container.register(WORKER_GROUP, {
      useFactory: instanceCachingFactory((c) => {
        const time = resolveOptional<TimeProvider>(c, TOKENS.TimeProvider);
        const logger = resolveOptional<Logger>(c, TOKENS.Logger);
        const metrics = resolveOptional<Registry>(c, TOKENS.Metrics);
        return WorkerGroup.start({
          nodeId: config.nodeId,
          engine: c.resolve<KvEngine>(TOKENS.Engine),
          wal: c.resolve<LogStore>(TOKENS.LogStore),
          storage: c.resolve<ExternalStorage>(TOKENS.SnapshotStorage),
          runner: c.resolve<RegionRunner>(REGION_RUNNER),
          concurrency: c.resolve<ConcurrencyManager>(TOKENS.ConcurrencyManager),
          config: config.workerGroup ?? {},
          ...(time ? { time } : {}),
          ...(logger ? { logger: logger.child({ component: 'worker-group' }) } : {}),
          ...(metrics ? { metrics } : {}),
        });
      }),
    });
  },
  start(container) {
    container.resolve(WORKER_GROUP);
  },
  async stop(container) {
    await container.resolve<WorkerGroup>(WORKER_GROUP).stop();
  },
};

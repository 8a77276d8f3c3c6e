// tsyringe needs the Reflect metadata polyfill loaded before it; do it here so importing this package is enough.
import 'reflect-metadata';
import { type TimeProvider } from '@regionstore/core';
import { TOKENS, resolveOptional, type Logger, type Plugin, type Registry } from '@regionstore/runtime';
import type { KvEngine } from '@regionstore/engine';
import type { ExternalStorage } from '@regionstore/storage-backends';
import { instanceCachingFactory } from 'tsyringe';
import type { RegionRunnerConfigInput } from './config';
import { RegionRunner, type SnapshotRouter } from './region-runner';

export const REGION_RUNNER = Symbol.for('regionstore.RegionRunner');
/** Optional: where SnapshotGenerated messages go (the storage node's region router). */
export const SNAPSHOT_ROUTER = Symbol.for('regionstore.SnapshotRouter');

/**
 * Binds a RegionRunner over the container's engine and snapshot storage; reads the `regionRunner`
 * section of the app config. Starts its timer with the app and stops it (letting running tasks end)
 * before the engine closes.
 */
export const regionRunnerPlugin: Plugin<{ regionRunner?: RegionRunnerConfigInput }> = {
  name: 'region-runner',
  register(container, config) {
    container.register(REGION_RUNNER, {
      useFactory: instanceCachingFactory((c) => {
        const time = resolveOptional<TimeProvider>(c, TOKENS.TimeProvider);
        const logger = resolveOptional<Logger>(c, TOKENS.Logger);
        const metrics = resolveOptional<Registry>(c, TOKENS.Metrics);
        const router = resolveOptional<SnapshotRouter>(c, SNAPSHOT_ROUTER);
        return new RegionRunner({
          engine: c.resolve<KvEngine>(TOKENS.Engine),
          storage: c.resolve<ExternalStorage>(TOKENS.SnapshotStorage),
          config: config.regionRunner ?? {},
          ...(time ? { time } : {}),
          ...(logger ? { logger: logger.child({ component: 'region-runner' }) } : {}),
          ...(metrics ? { metrics } : {}),
          ...(router ? { router } : {}),
        });
      }),
    });
  },
  async start(container) {
    const runner = container.resolve<RegionRunner>(REGION_RUNNER);
    await runner.restorePendingDeletes();
    runner.start();
  },
  async stop(container) {
    await container.resolve<RegionRunner>(REGION_RUNNER).stop();
  },
};

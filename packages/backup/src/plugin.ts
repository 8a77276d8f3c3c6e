// tsyringe needs the Reflect metadata polyfill loaded before it; do it here so importing this package is enough.
import 'reflect-metadata';
import { type TimeProvider } from '@regionstore/core';
import { TOKENS, resolveOptional, type Logger, type Plugin, type Registry } from '@regionstore/runtime';
import type { ConcurrencyManager, KvEngine } from '@regionstore/engine';
import { instanceCachingFactory } from 'tsyringe';
import type { BackupConfigInput } from './config';
import { BackupEndpoint } from './endpoint';
import type { ReadAdmission } from './read-admission';
import type { RegionInfoProvider } from './region-info';

export const BACKUP_ENDPOINT = Symbol.for('regionstore.BackupEndpoint');
/** The node's region map for backup; the storage node binds it (from its worker group). */
export const REGION_INFO_PROVIDER = Symbol.for('regionstore.RegionInfoProvider');
/** How the node checks a read at a ts (optional); the storage node binds its worker group's. */
export const READ_ADMISSION = Symbol.for('regionstore.ReadAdmission');

/** Binds a BackupEndpoint over the node's engine, concurrency manager and region map. */
export const backupPlugin: Plugin<{ nodeId: string; backup?: BackupConfigInput }> = {
  name: 'backup',
  register(container, config) {
    container.register(BACKUP_ENDPOINT, {
      useFactory: instanceCachingFactory((c) => {
        const time = resolveOptional<TimeProvider>(c, TOKENS.TimeProvider);
        const logger = resolveOptional<Logger>(c, TOKENS.Logger);
        const metrics = resolveOptional<Registry>(c, TOKENS.Metrics);
        const readAdmission = resolveOptional<ReadAdmission>(c, READ_ADMISSION);
        return new BackupEndpoint({
          storeId: config.nodeId,
          engine: c.resolve<KvEngine>(TOKENS.Engine),
          regionInfo: c.resolve<RegionInfoProvider>(REGION_INFO_PROVIDER),
          concurrency: c.resolve<ConcurrencyManager>(TOKENS.ConcurrencyManager),
          config: config.backup ?? {},
          ...(readAdmission ? { readAdmission } : {}),
          ...(time ? { time } : {}),
          ...(logger ? { logger: logger.child({ component: 'backup' }) } : {}),
          ...(metrics ? { metrics } : {}),
        });
      }),
    });
  },
  start(container) {
    container.resolve<BackupEndpoint>(BACKUP_ENDPOINT).start();
  },
  stop(container) {
    container.resolve<BackupEndpoint>(BACKUP_ENDPOINT).stop();
  },
};

import 'reflect-metadata';
import {
  TOKENS,
  resolveOptional,
  silentLogger,
  type Logger,
  type Plugin,
  type RedisClient,
} from '@regionstore/runtime';
import { clusterKey } from '@regionstore/protocol';
import { defaultAllowedStorage } from '@regionstore/storage-backends';
import { instanceCachingFactory, type DependencyContainer } from 'tsyringe';
import { ClusterBackup, type BackupRecord } from '../cluster-backup';
import { ClusterRestore, type RestoreRecord } from '../cluster-restore';
import type { ClusterStore } from '../cluster-store';
import type { GcSafePoints } from '../gc-safe-points';
import type { NodeTaskClient } from '../node-client';
import { Operations, type OperationRecord } from '../operation-records';
import { operationsRoutes } from '../operations-routes';
import { METASRV, type MetasrvPluginConfig } from './tokens';

/**
 * Cluster backup and restore: the coordinators (records in `<prefix>:meta:backups` / `:restores`)
 * and their admin routes, limited to `backup.allowedStorage`. Needs the cluster metadata plugin.
 */
export const operationsPlugin: Plugin<MetasrvPluginConfig> = {
  name: 'operations',
  register(container, config) {
    const operations = <R extends OperationRecord>(c: DependencyContainer, kind: string) =>
      new Operations<R>(
        c.resolve<RedisClient>(METASRV.Redis),
        clusterKey(config.keyPrefix, 'meta', kind),
        resolveOptional<Logger>(c, TOKENS.Logger) ?? silentLogger(),
        config.operationRecords,
      );
    const cluster = (c: DependencyContainer) =>
      [c.resolve<ClusterStore>(METASRV.ClusterStore), c.resolve<NodeTaskClient>(METASRV.NodeTasks)] as const;
    container.register(METASRV.Backups, {
      useFactory: instanceCachingFactory(
        (c) =>
          new ClusterBackup(operations<BackupRecord>(c, 'backups'), ...cluster(c), {
            gc: resolveOptional<GcSafePoints>(c, METASRV.Gc),
            safePointTtlMs: config.gc.backupSafePointTtlMs,
          }),
      ),
    });
    container.register(METASRV.Restores, {
      useFactory: instanceCachingFactory(
        (c) => new ClusterRestore(operations<RestoreRecord>(c, 'restores'), ...cluster(c)),
      ),
    });
    container.register(METASRV.AdminRoutes, {
      useFactory: (c) =>
        operationsRoutes(
          c.resolve(METASRV.Backups),
          c.resolve(METASRV.Restores),
          config.backup.allowedStorage ?? defaultAllowedStorage(config.snapshotStorage),
        ),
    });
  },
};

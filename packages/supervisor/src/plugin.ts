// tsyringe needs the Reflect metadata polyfill loaded before it; do it here so importing this package is enough.
import 'reflect-metadata';
import { type TimeProvider } from '@regionstore/core';
import { TOKENS, resolveOptional, type Logger, type Plugin, type Registry } from '@regionstore/runtime';
import type { RedisClient } from '@regionstore/runtime';
import { instanceCachingFactory } from 'tsyringe';
import type { PeerLookup } from './peer';
import type { FenceStore, LeaseExpiry, RegionNodeClient, RegionRoute, RouteStore } from './migration-ports';
import type { NodeCandidate } from './selector';
import type { SizeBalance } from './balance-scheduler';
import type { RegionMigrationManagerOptions } from './migration-manager';
import { SupervisorService } from './supervisor-service';

export const SUPERVISOR = Symbol.for('regionstore.Supervisor');
/** What the app binds for the supervisor: its Redis, routes, node client, fences, node directory. */
export const SUPERVISOR_PORTS = Symbol.for('regionstore.SupervisorPorts');

export interface SupervisorPorts {
  redis: RedisClient;
  routes: RouteStore;
  nodes: RegionNodeClient;
  fences: FenceStore;
  peers: PeerLookup;
  candidates: () => Promise<NodeCandidate[]>;
  /** Every region's route (balancing reads them). */
  allRoutes?: () => Promise<RegionRoute[]>;
  /** Region leases granted to nodes; a migration waits out the old leader's. */
  leases?: LeaseExpiry;
  /** What region splits need; without it, regions are never split. */
  split?: RegionMigrationManagerOptions['split'];
}

/** The metasrv's config keys the supervisor reads (see apps/metasrv config). */
export interface SupervisorPluginConfig {
  keyPrefix: string;
  /** This metasrv instance (the leader key names it while it leads). */
  instanceId?: string;
  supervisor?: {
    tickIntervalMs?: number;
    downgradeTimeoutMs?: number;
    acceptableHeartbeatPauseMillis?: number;
    firstHeartbeatEstimateMillis?: number;
    threshold?: number;
  };
  failoverGraceMs?: number;
  balance?: {
    enabled: boolean;
    intervalMs: number;
    sizeBalance?: SizeBalance;
  };
  /** Copies per region, the leader's included (1: no followers), checked every `intervalMs`. */
  replication?: { replicas: number; intervalMs: number };
  /** Regions past `maxSizeBytes` or `maxKeys` are split near their middle, checked every `checkIntervalMs`. */
  split?: { enabled: boolean; maxSizeBytes: number; maxKeys?: number; checkIntervalMs: number };
  /** Adjacent regions both under `maxSizeBytes` and `maxKeys`, still for `splitMergeIntervalMs`, are merged. */
  merge?: {
    enabled: boolean;
    maxSizeBytes: number;
    maxKeys?: number;
    splitMergeIntervalMs: number;
    checkIntervalMs: number;
  };
  /** The bootstrap's region count: merges stop there. */
  initialRegions?: number;
}

/**
 * Binds the SupervisorService. Its event loop starts with the app; the metasrv calls
 * `onLeaderStart` / `onLeaderStop` as it wins and loses leadership.
 */
export const supervisorPlugin: Plugin<SupervisorPluginConfig> = {
  name: 'supervisor',
  register(container, config) {
    container.register(SUPERVISOR, {
      useFactory: instanceCachingFactory((c) => {
        const { allRoutes, leases, ...ports } = c.resolve<SupervisorPorts>(SUPERVISOR_PORTS);
        const time = resolveOptional<TimeProvider>(c, TOKENS.TimeProvider);
        const logger = resolveOptional<Logger>(c, TOKENS.Logger);
        const metrics = resolveOptional<Registry>(c, TOKENS.Metrics);
        const { tickIntervalMs, downgradeTimeoutMs, ...detector } = config.supervisor ?? {};
        return new SupervisorService({
          ...ports,
          keyPrefix: config.keyPrefix,
          ...(config.instanceId ? { writer: config.instanceId } : {}),
          ...(tickIntervalMs ? { tickIntervalMs } : {}),
          ...(downgradeTimeoutMs ? { downgradeTimeoutMs } : {}),
          ...(Object.keys(detector).length > 0 ? { detectorOptions: detector } : {}),
          ...(config.failoverGraceMs !== undefined ? { failoverGraceMs: config.failoverGraceMs } : {}),
          ...(config.balance?.enabled && allRoutes
            ? {
                balance: {
                  routes: allRoutes,
                  intervalMs: config.balance.intervalMs,
                  ...(config.balance.sizeBalance ? { sizeBalance: config.balance.sizeBalance } : {}),
                },
              }
            : {}),
          ...(config.replication && allRoutes
            ? {
                replicas: {
                  count: config.replication.replicas,
                  routes: allRoutes,
                  intervalMs: config.replication.intervalMs,
                },
              }
            : {}),
          ...(leases ? { leases } : {}),
          ...(config.split?.enabled
            ? {
                splitCheck: {
                  maxSizeBytes: config.split.maxSizeBytes,
                  ...(config.split.maxKeys ? { maxKeys: config.split.maxKeys } : {}),
                  intervalMs: config.split.checkIntervalMs,
                },
              }
            : {}),
          ...(config.merge?.enabled && allRoutes
            ? {
                mergeCheck: {
                  routes: allRoutes,
                  maxSizeBytes: config.merge.maxSizeBytes,
                  ...(config.merge.maxKeys ? { maxKeys: config.merge.maxKeys } : {}),
                  splitMergeIntervalMs: config.merge.splitMergeIntervalMs,
                  minRegions: config.initialRegions ?? 1,
                  intervalMs: config.merge.checkIntervalMs,
                },
              }
            : {}),
          ...(metrics ? { metrics } : {}),
          ...(time ? { time } : {}),
          ...(logger ? { logger: logger.child({ component: 'supervisor' }) } : {}),
        });
      }),
    });
  },
  start(container) {
    container.resolve<SupervisorService>(SUPERVISOR).start();
  },
  async stop(container) {
    await container.resolve<SupervisorService>(SUPERVISOR).stop();
  },
};

// tsyringe needs the Reflect metadata polyfill loaded before it; do it here so importing this package is enough.
import 'reflect-metadata';
import { type TimeProvider } from '@regionstore/core';
import { TOKENS, resolveOptional, type Logger, type Plugin } from '@regionstore/runtime';
import type { RedisClient } from '@regionstore/runtime';
import { instanceCachingFactory } from 'tsyringe';
import type { PeerLookup } from './migration';
import type { FenceStore, RegionNodeClient, RouteStore } from './migration-ports';
import type { PhiAccrualFailureDetectorOptions } from './phi-accrual-failure-detector';
import type { NodeCandidate } from './selector';
import { SupervisorService } from './supervisor-service';

export const SUPERVISOR = Symbol.for('regionstore.Supervisor');
/** What the metasrv binds for the supervisor: its Redis, routes, node client, fences, node directory. */
export const SUPERVISOR_PORTS = Symbol.for('regionstore.SupervisorPorts');

export interface SupervisorPorts {
  redis: RedisClient;
  routes: RouteStore;
  nodes: RegionNodeClient;
  fences: FenceStore;
  peers: PeerLookup;
  candidates: () => Promise<NodeCandidate[]>;
}

export interface SupervisorPluginConfig {
  keyPrefix: string;
  supervisor?: { tickIntervalMs?: number; detector?: Partial<PhiAccrualFailureDetectorOptions> };
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
        const ports = c.resolve<SupervisorPorts>(SUPERVISOR_PORTS);
        const time = resolveOptional<TimeProvider>(c, TOKENS.TimeProvider);
        const logger = resolveOptional<Logger>(c, TOKENS.Logger);
        return new SupervisorService({
          ...ports,
          keyPrefix: config.keyPrefix,
          ...(config.supervisor?.tickIntervalMs ? { tickIntervalMs: config.supervisor.tickIntervalMs } : {}),
          ...(config.supervisor?.detector ? { detectorOptions: config.supervisor.detector } : {}),
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

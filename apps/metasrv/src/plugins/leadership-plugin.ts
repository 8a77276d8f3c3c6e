import 'reflect-metadata';
import {
  TOKENS,
  resolveOptional,
  silentLogger,
  type Logger,
  type Plugin,
  type Registry,
  type RedisClient,
} from '@regionstore/runtime';
import { RedisLogStore } from '@regionstore/log-store';
import { metasrvLeaderKey } from '@regionstore/protocol';
import { SUPERVISOR, type SupervisorService } from '@regionstore/supervisor';
import type { Queue } from 'bullmq';
import { instanceCachingFactory } from 'tsyringe';
import type { ClusterBackup } from '../cluster-backup';
import type { ClusterRestore } from '../cluster-restore';
import type { MetasrvClusterIdentity } from '../cluster-identity';
import type { ClusterStore } from '../cluster-store';
import type { GcSafePoints } from '../gc-safe-points';
import { Leadership } from '../leadership';
import type { NodeTaskClient } from '../node-client';
import type { RegionLeaseGrants } from '../region-leases';
import { METASRV, type MetasrvPluginConfig } from './tokens';

/**
 * The metasrv leader lease, the work only a leader does and the metasrv's metrics (see Leadership).
 * Campaigns from its start; its stop hands the lease to a standby. Register it last: it starts after,
 * and stops before, everything it drives.
 */
export const leadershipPlugin: Plugin<MetasrvPluginConfig> = {
  name: 'leadership',
  register(container, config) {
    container.register(METASRV.Leadership, {
      useFactory: instanceCachingFactory((c) => {
        const store = c.resolve<ClusterStore>(METASRV.ClusterStore);
        const supervisor = c.resolve<SupervisorService>(SUPERVISOR);
        const nodes = c.resolve<NodeTaskClient>(METASRV.NodeTasks);
        const wal = new RedisLogStore(c.resolve<RedisClient>(METASRV.Redis), { prefix: config.keyPrefix });
        const operations = [
          resolveOptional<ClusterBackup>(c, METASRV.Backups),
          resolveOptional<ClusterRestore>(c, METASRV.Restores),
        ].flatMap((coordinator) => (coordinator ? [coordinator.operations] : []));
        return new Leadership({
          config,
          redis: c.resolve<RedisClient>(METASRV.Redis),
          leaderKey: metasrvLeaderKey(config.keyPrefix),
          instanceId: config.instanceId,
          store,
          supervisor,
          nodes,
          leases: c.resolve<RegionLeaseGrants>(METASRV.RegionLeases),
          identity: resolveOptional<MetasrvClusterIdentity>(c, METASRV.Identity),
          walRetired: async (regionId) => (await wal.position(regionId)).retired === true,
          gc: resolveOptional<GcSafePoints>(c, METASRV.Gc),
          operations,
          queues: c.resolve<() => Queue[]>(METASRV.Queues),
          metrics: c.resolve<Registry>(TOKENS.Metrics),
          logger: resolveOptional<Logger>(c, TOKENS.Logger) ?? silentLogger(),
        });
      }),
    });
  },
  start(container) {
    container.resolve<Leadership>(METASRV.Leadership).start();
  },
  async stop(container) {
    await container.resolve<Leadership>(METASRV.Leadership).stop();
  },
};

import 'reflect-metadata';
import {
  RedisClusterRecord,
  TOKENS,
  describeRedisTarget,
  redisTarget,
  resolveOptional,
  silentLogger,
  type Logger,
  type Plugin,
  type RedisClient,
} from '@regionstore/runtime';
import { RedisLogStore } from '@regionstore/log-store';
import { clusterRecordKey } from '@regionstore/protocol';
import { createStorage } from '@regionstore/storage-backends';
import { instanceCachingFactory } from 'tsyringe';
import type { AdminRoutes } from '../admin-routes';
import { MetasrvClusterIdentity } from '../cluster-identity';
import { ClusterRecovery } from '../cluster-recovery';
import type { ClusterStore } from '../cluster-store';
import type { NodeTaskClient } from '../node-client';
import { METASRV, type MetasrvPluginConfig } from './tokens';

/**
 * The cluster identity (minted at bootstrap, checked at start against the object store) and its
 * recovery: `GET /admin/cluster` and `POST /admin/cluster/recover` (leader only). Needs the cluster
 * metadata plugin; its start refuses a Redis and an object store of two different clusters.
 */
export const clusterIdentityPlugin: Plugin<MetasrvPluginConfig> = {
  name: 'cluster-identity',
  register(container, config) {
    const once = <T>(make: (c: typeof container) => T) => ({ useFactory: instanceCachingFactory(make) });
    const logger = (c: typeof container) => resolveOptional<Logger>(c, TOKENS.Logger) ?? silentLogger();
    container.register(
      METASRV.Identity,
      once(
        (c) =>
          new MetasrvClusterIdentity(
            new RedisClusterRecord(
              c.resolve<RedisClient>(METASRV.Redis),
              clusterRecordKey(config.keyPrefix),
              `Redis ${describeRedisTarget(redisTarget(config))} (key prefix ${config.keyPrefix})`,
            ),
            config.snapshotStorage ? createStorage(config.snapshotStorage) : undefined,
            c.resolve<ClusterStore>(METASRV.ClusterStore),
            logger(c),
          ),
      ),
    );
    container.register(
      METASRV.Recovery,
      once(
        (c) =>
          new ClusterRecovery({
            identity: c.resolve<MetasrvClusterIdentity>(METASRV.Identity),
            store: c.resolve<ClusterStore>(METASRV.ClusterStore),
            nodes: c.resolve<NodeTaskClient>(METASRV.NodeTasks),
            wal: new RedisLogStore(c.resolve<RedisClient>(METASRV.Redis), { prefix: config.keyPrefix }),
            logger: logger(c),
          }),
      ),
    );
    container.register(METASRV.AdminRoutes, {
      useFactory: (c): AdminRoutes => ({
        name: 'cluster-identity',
        install({ app, requireLeader }) {
          const identity = c.resolve<MetasrvClusterIdentity>(METASRV.Identity);
          app.get('/admin/cluster', async () => identity.status());
          app.post('/admin/cluster/recover', async () => {
            await requireLeader();
            return c.resolve<ClusterRecovery>(METASRV.Recovery).recover();
          });
        },
      }),
    });
  },
  async start(container) {
    await container.resolve<MetasrvClusterIdentity>(METASRV.Identity).checkAtStart();
  },
};

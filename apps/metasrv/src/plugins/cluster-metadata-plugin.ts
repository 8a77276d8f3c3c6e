import 'reflect-metadata';
import {
  TOKENS,
  checkEvictionPolicy,
  createRedis,
  redisTarget,
  resolveOptional,
  silentLogger,
  waitForRedis,
  type Logger,
  type Plugin,
  type RedisClient,
} from '@regionstore/runtime';
import { RedisLogStore } from '@regionstore/log-store';
import { QueueNames } from '@regionstore/protocol';
import { SUPERVISOR_PORTS, type SupervisorPorts } from '@regionstore/supervisor';
import { Queue } from 'bullmq';
import { instanceCachingFactory } from 'tsyringe';
import { createStorage } from '@regionstore/storage-backends';
import { committedManifest, retireObjects } from '@regionstore/region-files';
import { ClusterStore } from '../cluster-store';
import { NodeTaskClient } from '../node-client';
import { RegionLeaseGrants } from '../region-leases';
import { METASRV, type MetasrvPluginConfig } from './tokens';

/** The heartbeat queue's own connection (BullMQ queues must not share the fail-fast one). */
const queueRedis = Symbol('regionstore.metasrv.HeartbeatQueueRedis');

/**
 * The cluster's metadata in Redis and the ways to reach its nodes: the Redis connection, the route
 * and node store, the node task client, the region lease grants, the heartbeat queue (and the list of
 * every open queue); and the supervisor's ports over them. Starts by waiting for Redis and checking its eviction policy; stops
 * last, closing the queues and the connection.
 */
export const clusterMetadataPlugin: Plugin<MetasrvPluginConfig> = {
  name: 'cluster-metadata',
  register(container, config) {
    const target = redisTarget(config);
    const names = new QueueNames(config.keyPrefix);
    const once = <T>(make: (c: typeof container) => T) => ({ useFactory: instanceCachingFactory(make) });
    const redis = (c: typeof container) => c.resolve<RedisClient>(METASRV.Redis);
    container.register(
      METASRV.Redis,
      once(() => createRedis(target, 'client')),
    );
    container.register(
      METASRV.ClusterStore,
      once(
        (c) =>
          new ClusterStore(
            redis(c),
            config.keyPrefix,
            config.nodeDeadAfterMs,
            () => Date.now(),
            config.instanceId,
          ),
      ),
    );
    container.register(
      METASRV.NodeTasks,
      once(() => new NodeTaskClient(target, names, config.taskTimeoutMs)),
    );
    container.register(
      METASRV.RegionLeases,
      once(
        (c) =>
          new RegionLeaseGrants(
            redis(c),
            config.keyPrefix,
            config.instanceId,
            config.regionLeaseMs,
            config.leaseMarginMs,
          ),
      ),
    );
    container.register(
      queueRedis,
      once(() => createRedis(target, 'worker')),
    );
    container.register(
      METASRV.HeartbeatQueue,
      once(
        (c) =>
          new Queue(names.metasrv, {
            connection: c.resolve<RedisClient>(queueRedis),
            prefix: names.bullmqPrefix,
          }),
      ),
    );
    container.register(
      METASRV.Queues,
      once((c) => {
        const heartbeats = c.resolve<Queue>(METASRV.HeartbeatQueue);
        const nodes = c.resolve<NodeTaskClient>(METASRV.NodeTasks);
        return (): Queue[] => [heartbeats, ...nodes.openQueues];
      }),
    );
    container.register(
      SUPERVISOR_PORTS,
      once((c): SupervisorPorts => {
        const store = c.resolve<ClusterStore>(METASRV.ClusterStore);
        // Where a split whose leader died tells how far it got (see RegionSplitProcedure).
        const objects = config.snapshotStorage ? createStorage(config.snapshotStorage) : undefined;
        const fences = new RedisLogStore(redis(c), { prefix: config.keyPrefix });
        return {
          redis: redis(c),
          routes: store,
          nodes: c.resolve<NodeTaskClient>(METASRV.NodeTasks),
          fences,
          peers: store,
          candidates: () => store.candidates(),
          allRoutes: () => store.routes(),
          leases: c.resolve<RegionLeaseGrants>(METASRV.RegionLeases),
          // Splits and merges need the object store: a dead leader's progress is read from its flushes.
          ...(objects
            ? {
                split: {
                  routes: {
                    get: (id) => store.get(id),
                    update: (id, change, ifEpochVersion) => store.update(id, change, ifEpochVersion),
                    allocateRegionId: (tableId) => store.allocateRegionId(tableId),
                    putSplit: (parent, child) => store.putSplit(parent, child),
                    putMerge: (target, source) => store.putMerge(target, source),
                    // A region merged away: its WAL, and its flushes (a cluster recovery rebuilds routes from
                    // manifests, and must not bring it back beside the region that holds its range now).
                    retireRegion: async (regionId) => {
                      await fences.retire(regionId);
                      await retireObjects(objects, regionId);
                    },
                  },
                  nodes: c.resolve<NodeTaskClient>(METASRV.NodeTasks),
                  observers: {
                    node: (id) => store.node(id),
                    isAlive: async (id) => (await store.nodes()).some((n) => n.id === id && n.alive),
                    // What opens load: a manifest written but not committed (its flush died) does not count.
                    flushedEpochVersion: async (regionId) =>
                      (await committedManifest({ storage: objects, wal: fences }, regionId))?.manifest.epoch
                        .version,
                  },
                },
              }
            : {}),
        };
      }),
    );
  },
  async start(container) {
    const logger = resolveOptional<Logger>(container, TOKENS.Logger) ?? silentLogger();
    const redis = container.resolve<RedisClient>(METASRV.Redis);
    try {
      await waitForRedis(redis, 10_000);
      await checkEvictionPolicy(redis, logger);
    } catch (err) {
      // Not started, so never stopped: a connection left here would retry for the life of the process.
      redis.disconnect();
      throw err;
    }
  },
  async stop(container) {
    await container.resolve<NodeTaskClient>(METASRV.NodeTasks).close();
    await container
      .resolve<Queue>(METASRV.HeartbeatQueue)
      .close()
      .catch(() => undefined);
    // BullMQ leaves a connection it was given open when it closes.
    container.resolve<RedisClient>(queueRedis).disconnect();
    container.resolve<RedisClient>(METASRV.Redis).disconnect();
  },
};

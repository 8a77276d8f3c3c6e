import 'reflect-metadata';
import {
  TOKENS,
  createRedis,
  redisTarget,
  resolveOptional,
  silentLogger,
  type Logger,
  type Plugin,
  type RedisClient,
} from '@regionstore/runtime';
import type { TimeProvider } from '@regionstore/core';
import type { KvEngine } from '@regionstore/engine';
import { QueueNames, leaseGrantKey, leaseGrantSchema } from '@regionstore/protocol';
import { WORKER_GROUP, type WorkerGroup } from '@regionstore/worker-group';
import { Queue } from 'bullmq';
import { instanceCachingFactory } from 'tsyringe';
import type { NodeClusterIdentity } from '../cluster-identity';
import { HeartbeatLoop, buildHeartbeat } from '../heartbeat';
import type { LoadSplitDetector } from '../load-split-detector';
import type { RegionLeases } from '../region-leases';
import type { DataApiServer } from './data-api-plugin';
import { NODE, type NodePluginConfig } from './tokens';

/** The heartbeat queue's connection, and the fail-fast one lease grants are read on (never waited for). */
const connections = Symbol('regionstore.node.HeartbeatConnections');
type Connections = { queue: RedisClient; grants: RedisClient };

/**
 * Heartbeats to the metasrv through its `metasrv` queue (the node's address, regions, sizes and leases
 * asked for), and the region leases renewed from the grants that answer them. Needs the data API (its
 * address goes in every heartbeat) and the worker group. Starts last: a node announces itself once it
 * can serve; stops first, so the metasrv stops counting on it before anything else goes.
 */
export const heartbeatPlugin: Plugin<NodePluginConfig> = {
  name: 'heartbeat',
  register(container, config) {
    const queues = new QueueNames(config.keyPrefix);
    const once = <T>(make: (c: typeof container) => T) => ({ useFactory: instanceCachingFactory(make) });
    container.register(
      connections,
      once((): Connections => ({
        queue: createRedis(redisTarget(config), 'worker'),
        grants: createRedis(redisTarget(config), 'client'),
      })),
    );
    container.register(
      NODE.Heartbeats,
      once((c) => {
        const { queue, grants } = c.resolve<Connections>(connections);
        const time = c.resolve<TimeProvider>(TOKENS.TimeProvider);
        const engine = c.resolve<KvEngine>(TOKENS.Engine);
        const leases = c.resolve<RegionLeases>(NODE.RegionLeases);
        const api = c.resolve<DataApiServer>(NODE.DataApi);
        const identity = resolveOptional<NodeClusterIdentity>(c, NODE.Identity);
        return new HeartbeatLoop(
          new Queue(queues.metasrv, { connection: queue, prefix: queues.bullmqPrefix }),
          config.heartbeatIntervalMs,
          () =>
            buildHeartbeat(
              config.nodeId,
              api.address,
              c.resolve<WorkerGroup>(WORKER_GROUP),
              engine,
              time.now(),
              leases.nextHeartbeat(),
              identity?.clusterId,
              resolveOptional<LoadSplitDetector>(c, NODE.LoadSplit),
            ),
          time,
          resolveOptional<Logger>(c, TOKENS.Logger) ?? silentLogger(),
          {
            delayMs: config.leaseGrantDelayMs,
            read: async () => {
              const raw = await grants.get(leaseGrantKey(config.keyPrefix, config.nodeId));
              return raw === null ? undefined : leaseGrantSchema.parse(JSON.parse(raw));
            },
            accept: (grant) => {
              if (grant.gcSafePoint !== undefined)
                c.resolve<WorkerGroup>(WORKER_GROUP).advanceGcSafePoint(grant.gcSafePoint);
              return leases.accept(grant);
            },
          },
        );
      }),
    );
  },
  start(container) {
    container.resolve<HeartbeatLoop>(NODE.Heartbeats).start();
  },
  async stop(container) {
    await container.resolve<HeartbeatLoop>(NODE.Heartbeats).close();
    // BullMQ leaves a connection it was given open: close ours, or it reconnects forever.
    const { queue, grants } = container.resolve<Connections>(connections);
    queue.disconnect();
    grants.disconnect();
  },
};

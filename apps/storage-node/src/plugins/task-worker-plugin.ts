import 'reflect-metadata';
import {
  TOKENS,
  redisTarget,
  resolveOptional,
  silentLogger,
  type Logger,
  type Plugin,
  type Registry,
} from '@regionstore/runtime';
import { BACKUP_ENDPOINT, backupConfigSchema, type BackupEndpoint } from '@regionstore/backup';
import type { KvEngine } from '@regionstore/engine';
import { QueueNames } from '@regionstore/protocol';
import { REGION_RUNNER, type RegionRunner } from '@regionstore/region-runner';
import { defaultAllowedStorage, type ExternalStorage } from '@regionstore/storage-backends';
import { WORKER_GROUP, type WorkerGroup } from '@regionstore/worker-group';
import { instanceCachingFactory } from 'tsyringe';
import type { NodeClusterIdentity } from '../cluster-identity';
import type { HeartbeatLoop } from '../heartbeat';
import { NodeTaskWorker } from '../task-worker';
import { NODE, type NodePluginConfig } from './tokens';

/** How long after a region starts leading here the node heartbeats (see HeartbeatLoop.beatSoon). */
const LEADING_HEARTBEAT_DELAY_MS = 100;

/**
 * Runs the metasrv's tasks (open, close, snapshots, …) from the node's `node-<id>` queue, and backups
 * and restores from its `node-<id>.bulk` queue. Needs the engine, snapshot storage, region runner, worker group and backup plugins. Its stop
 * lets running jobs finish for a third of `shutdownTimeoutMs`, then abandons them to be retried.
 */
export const taskWorkerPlugin: Plugin<NodePluginConfig> = {
  name: 'task-worker',
  register(container, config) {
    const queues = new QueueNames(config.keyPrefix);
    container.register(NODE.Tasks, {
      // The worker takes jobs from the moment it exists, so it is made by the plugin's start.
      useFactory: instanceCachingFactory(
        (c) =>
          new NodeTaskWorker(
            { tasks: queues.node(config.nodeId), bulk: queues.nodeBulk(config.nodeId) },
            queues.bullmqPrefix,
            redisTarget(config),
            {
              nodeId: config.nodeId,
              concurrency: { tasks: config.tasks.concurrency, bulk: config.tasks.bulkConcurrency },
              engine: c.resolve<KvEngine>(TOKENS.Engine),
              snapshotStorage: c.resolve<ExternalStorage>(TOKENS.SnapshotStorage),
              group: c.resolve<WorkerGroup>(WORKER_GROUP),
              runner: c.resolve<RegionRunner>(REGION_RUNNER),
              backup: c.resolve<BackupEndpoint>(BACKUP_ENDPOINT),
              allowedStorage:
                backupConfigSchema.parse(config.backup ?? {}).allowedStorage ??
                defaultAllowedStorage(config.snapshotStorage),
              logger: resolveOptional<Logger>(c, TOKENS.Logger) ?? silentLogger(),
              metrics: resolveOptional<Registry>(c, TOKENS.Metrics),
              identity: resolveOptional<NodeClusterIdentity>(c, NODE.Identity),
              // The job's answer lets the metasrv route the region here within milliseconds.
              onLeading: () =>
                resolveOptional<HeartbeatLoop>(c, NODE.Heartbeats)?.beatSoon(LEADING_HEARTBEAT_DELAY_MS),
            },
          ),
      ),
    });
  },
  start(container) {
    container.resolve<NodeTaskWorker>(NODE.Tasks);
  },
  async stop(container) {
    const { shutdownTimeoutMs } = container.resolve<NodePluginConfig>(TOKENS.Config);
    await container.resolve<NodeTaskWorker>(NODE.Tasks).close(Math.floor(shutdownTimeoutMs / 3));
  },
};

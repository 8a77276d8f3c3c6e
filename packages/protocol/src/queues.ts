import { InvalidArgumentError } from '@regionstore/core';
import { nodeIdSchema } from './codecs';
import type { JobName } from './jobs';

export const DEFAULT_QUEUE_PREFIX = 'regionstore';

/**
 * The BullMQ queues of one cluster. The cluster's prefix, as a hash tag, becomes BullMQ's key prefix
 * (`bullmqPrefix`): two clusters (or two test files) on one Redis never share a queue, and on Redis
 * Cluster every queue's keys share a slot, as BullMQ's scripts need.
 */
export class QueueNames {
  readonly metasrv = 'metasrv';
  readonly bullmqPrefix: string;

  constructor(readonly prefix: string = DEFAULT_QUEUE_PREFIX) {
    if (!/^[A-Za-z0-9_.-]{1,128}$/.test(prefix)) {
      throw new InvalidArgumentError(`queue prefix '${prefix}' must be 1-128 of A-Z a-z 0-9 _ . -`, {
        prefix,
      });
    }
    this.bullmqPrefix = `{${prefix}}`;
  }

  /** The task queue of one storage node. */
  node(nodeId: string): string {
    return `node-${checkedNodeId(nodeId)}`;
  }

  /**
   * A storage node's queue for tasks that move a region's data to or from a backup ({@link BULK_JOBS}):
   * minutes of work each, taken a few at a time by workers of their own, so they never hold the
   * slots failover tasks need. A node id has no '.', so no node's task queue has this name.
   */
  nodeBulk(nodeId: string): string {
    return `node-${checkedNodeId(nodeId)}.bulk`;
  }

  /** The queue of `nodeId` a task goes to. */
  nodeQueueFor(nodeId: string, job: JobName): string {
    return BULK_JOBS.has(job) ? this.nodeBulk(nodeId) : this.node(nodeId);
  }
}

/**
 * Tasks whose length grows with the data they carry: they go to a node's bulk queue and report
 * progress while they run, and whoever waits on one waits as long as that queue moves. A restore's
 * check for newer versions reads up to a region's every key, so it is one of them.
 */
export const BULK_JOBS: ReadonlySet<JobName> = new Set<JobName>(['backup', 'restore', 'newer-version']);

function checkedNodeId(nodeId: string): string {
  const parsed = nodeIdSchema.safeParse(nodeId);
  if (!parsed.success) {
    throw new InvalidArgumentError(`invalid node id '${nodeId}': ${parsed.error.issues[0]?.message}`, {
      nodeId,
    });
  }
  return nodeId;
}

import { InvalidArgumentError } from '@regionstore/core';
import { nodeIdSchema } from './codecs';

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
    const parsed = nodeIdSchema.safeParse(nodeId);
    if (!parsed.success) {
      throw new InvalidArgumentError(`invalid node id '${nodeId}': ${parsed.error.issues[0]?.message}`, {
        nodeId,
      });
    }
    return `node-${nodeId}`;
  }
}

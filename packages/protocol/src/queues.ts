import { InvalidArgumentError } from '@regionstore/core';
import { nodeIdSchema } from './codecs';

export const DEFAULT_QUEUE_PREFIX = 'regionstore';

/**
 * The BullMQ queues of one cluster. The prefix becomes BullMQ's key prefix, so two clusters (or two
 * test files) on one Redis never share a queue.
 */
export class QueueNames {
  readonly metasrv = 'metasrv';
  readonly procedures = 'procedures';

  constructor(readonly prefix: string = DEFAULT_QUEUE_PREFIX) {
    if (!/^[A-Za-z0-9_.-]{1,128}$/.test(prefix)) {
      throw new InvalidArgumentError(`queue prefix '${prefix}' must be 1-128 of A-Z a-z 0-9 _ . -`, {
        prefix,
      });
    }
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

  /** Every queue of a cluster with these nodes (Bull Board lists them). */
  all(nodeIds: Iterable<string>): string[] {
    return [this.metasrv, this.procedures, ...[...nodeIds].map((id) => this.node(id))];
  }
}

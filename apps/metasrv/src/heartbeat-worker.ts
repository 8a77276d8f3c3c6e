import { createRedis, redisTarget, type Logger } from '@regionstore/runtime';
import { JobWorker } from '@regionstore/jobs';
import { QueueNames, decodeJobPayload } from '@regionstore/protocol';
import type { MetasrvConfig } from './config';
import type { HeartbeatIntake } from './heartbeat-intake';
import type { NodeTaskClient } from './node-client';

export interface HeartbeatConsumer {
  /** Stops at once (jobs in flight are retried by the next leader) and closes the connection. */
  close(): Promise<void>;
}

/**
 * The metasrv leader's consumer of the `metasrv` queue: every node heartbeat goes to the intake (which
 * answers it with the node's region leases and repairs). Only the leader runs it, so exactly one
 * supervisor sees each heartbeat; close it when the lease is lost.
 */
export function consumeHeartbeats(
  config: MetasrvConfig,
  intake: HeartbeatIntake,
  nodes: NodeTaskClient,
  logger: Logger,
): HeartbeatConsumer {
  const connection = createRedis(redisTarget(config), 'worker');
  const names = new QueueNames(config.keyPrefix);
  const worker = new JobWorker(
    names.metasrv,
    async (job) => {
      if (job.name !== 'heartbeat') return { accepted: false };
      const heartbeat = decodeJobPayload('heartbeat', job.data);
      await intake.accept(heartbeat);
      nodes.watch(heartbeat.nodeId); // so Bull Board lists the node's queues
      return { accepted: true };
    },
    {
      connection,
      prefix: names.bullmqPrefix,
      concurrency: 4,
    },
  );
  worker.on('error', (err) => logger.warn({ err }, 'heartbeat worker error'));
  return {
    async close() {
      await worker.close(true);
      // BullMQ leaves a connection it was given open when it closes.
      connection.disconnect();
    },
  };
}

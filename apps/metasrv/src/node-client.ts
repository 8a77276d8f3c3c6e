import {
  TimeoutError,
  errorFromBody,
  isRegionStoreError,
  type KeyRange,
  type RegionId,
} from '@regionstore/core';
import { createRedis, type RedisClient, type RedisTarget } from '@regionstore/runtime';
import {
  BULK_JOBS,
  QueueNames,
  decodeJobResult,
  encodeJobPayload,
  errorBodySchema,
  type Epoch,
  type JobName,
  type JobPayload,
  type JobResult,
} from '@regionstore/protocol';
import type {
  MergeNodeClient,
  MergeRegionsRequest,
  Peer,
  RegionNodeClient,
  SplitNodeClient,
  SplitRegionRequest,
} from '@regionstore/supervisor';
import { Queue, QueueEvents, type Job } from 'bullmq';
import { setMaxListeners } from 'node:events';
import { waitWhileQueueMoves } from './bulk-job-wait';

/**
 * A split scans the region for its middle key and flushes both halves whole (a merge, the merged
 * region): minutes for a large region on a slow disk, not the seconds other tasks take.
 */
const SPLIT_TIMEOUT_MS = 5 * 60_000;

/**
 * A bulk job given up on is taken off its queue unless a live worker holds it: the caller sends it
 * again elsewhere, and the node, back, must not run it as well (a dead node's job stays active with a
 * lapsed lock until its own worker, restarted, would run it again). BullMQ refuses to remove a job
 * whose lock is held; a finished one keeps its answer.
 */
async function withdrawn(job: Job, err: Error): Promise<Error> {
  const state = await job.getState().catch(() => 'unknown');
  if (state !== 'completed' && state !== 'failed') await job.remove().catch(() => undefined);
  return err;
}

/** Turns a failed job's reason (our error body as JSON) back into the typed error. */
function jobError(reason: string | undefined, what: string): Error {
  try {
    const body = errorBodySchema.parse(JSON.parse(reason ?? ''));
    return errorFromBody(body);
  } catch {
    return new Error(`${what} failed: ${reason ?? 'unknown reason'}`);
  }
}

/**
 * Sends tasks to storage nodes as BullMQ jobs on their `node-<id>` queues (backups and restores on
 * `node-<id>.bulk`) and waits for the result: at most `timeoutMs` for a task, and for a backup or
 * restore as long as its node's bulk queue shows progress, with `timeoutMs` of silence the end. Job
 * ids make repeated calls (a resumed procedure) land on the same job instead of doing the work twice;
 * finished jobs are kept a while for that reason.
 */
export class NodeTaskClient implements RegionNodeClient, SplitNodeClient, MergeNodeClient {
  private readonly queues = new Map<
    string,
    { queue: Queue; events: QueueEvents; connections: readonly RedisClient[] }
  >();

  constructor(
    private readonly redis: RedisTarget | string,
    private readonly names: QueueNames,
    private readonly timeoutMs: number,
  ) {}

  /** Aborted by close: waits on bulk jobs end then, not a timeout later. */
  private readonly closed = (() => {
    const controller = new AbortController();
    setMaxListeners(0, controller.signal); // one listener per bulk wait
    return controller;
  })();

  /** Every node queue opened so far (Bull Board shows them). */
  get openQueues(): Queue[] {
    return [...this.queues.values()].map((q) => q.queue);
  }

  /** Opens both queues of a node, so Bull Board lists them before any task went there. */
  watch(nodeId: string): void {
    this.open(this.names.node(nodeId));
    this.open(this.names.nodeBulk(nodeId));
  }

  private open(name: string) {
    let entry = this.queues.get(name);
    if (!entry) {
      const connections = [createRedis(this.redis, 'worker'), createRedis(this.redis, 'worker')] as const;
      entry = {
        queue: new Queue(name, { connection: connections[0], prefix: this.names.bullmqPrefix }),
        events: new QueueEvents(name, { connection: connections[1], prefix: this.names.bullmqPrefix }),
        connections,
      };
      // Every wait listens on the queue's events: a backup of a node's forty regions is forty waits.
      entry.events.setMaxListeners(0);
      entry.queue.setMaxListeners(0);
      this.queues.set(name, entry);
    }
    return entry;
  }

  async call<N extends JobName>(
    nodeId: string,
    name: N,
    payload: JobPayload<N>,
    options: { jobId?: string; timeoutMs?: number } = {},
  ): Promise<JobResult<N>> {
    const { queue, events } = this.open(this.names.nodeQueueFor(nodeId, name));
    await events.waitUntilReady();
    const job = await queue.add(name, encodeJobPayload(name, payload), {
      // BullMQ reserves ':' in job ids; region ids contain one.
      ...(options.jobId ? { jobId: options.jobId.replaceAll(':', '_') } : {}),
      attempts: 3,
      backoff: { type: 'exponential', delay: 200 },
      removeOnComplete: { age: 3600, count: 1000 },
      removeOnFail: { age: 24 * 3600, count: 1000 },
    });
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const timedOut = (what: string) =>
      new TimeoutError(`${name} on ${nodeId} ${what}`, { nodeId, job: name });
    let result: unknown;
    try {
      result = BULK_JOBS.has(name)
        ? await waitWhileQueueMoves(
            queue,
            job,
            events,
            timeoutMs,
            () => timedOut(`showed no progress for ${timeoutMs} ms`),
            this.closed.signal,
          )
        : await job.waitUntilFinished(events, timeoutMs);
    } catch (err) {
      if (isRegionStoreError(err, 'Timeout')) throw await withdrawn(job, err);
      const message = (err as Error).message ?? '';
      if (/timed out|ttl/i.test(message)) throw timedOut(`did not finish within ${timeoutMs} ms`);
      throw jobError(message, `${name} on ${nodeId}`);
    }
    return decodeJobResult(name, result);
  }

  async openCandidate(
    peer: Peer,
    region: { regionId: RegionId; range: KeyRange; epoch: Epoch },
  ): Promise<void> {
    await this.call(peer.id, 'open-region', { ...region, role: 'follower' });
  }

  async downgradeLeader(peer: Peer, regionId: RegionId, epoch: Epoch): Promise<{ lastEntryId: number }> {
    return this.call(peer.id, 'downgrade-region', { regionId, epoch });
  }

  async upgradeCandidate(peer: Peer, regionId: RegionId, epoch: Epoch): Promise<{ lastEntryId: number }> {
    return this.call(peer.id, 'upgrade-region', { regionId, epoch });
  }

  async closeRegion(peer: Peer, regionId: RegionId, epoch: Epoch): Promise<void> {
    await this.call(peer.id, 'close-region', { regionId, destroy: true, epoch });
  }

  async splitKey(peer: Peer, regionId: RegionId): Promise<Buffer | undefined> {
    return (await this.call(peer.id, 'split-key', { regionId }, { timeoutMs: SPLIT_TIMEOUT_MS })).splitKey;
  }

  async splitRegion(peer: Peer, request: SplitRegionRequest): Promise<{ lastEntryId: number }> {
    return this.call(peer.id, 'split-region', request, { timeoutMs: SPLIT_TIMEOUT_MS });
  }

  async mergeRegions(peer: Peer, request: MergeRegionsRequest): Promise<{ lastEntryId: number }> {
    return this.call(peer.id, 'merge-regions', request, { timeoutMs: SPLIT_TIMEOUT_MS });
  }

  async close(): Promise<void> {
    this.closed.abort();
    for (const { queue, events, connections } of this.queues.values()) {
      await events.close().catch(() => undefined);
      await queue.close().catch(() => undefined);
      // BullMQ leaves the connections it was given open
      for (const connection of connections) connection.disconnect();
    }
    this.queues.clear();
  }
}

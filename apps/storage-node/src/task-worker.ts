import {
  EpochNotMatchError,
  InvalidArgumentError,
  NotLeaderError,
  ServerIsBusyError,
  NotFoundError,
  CancelledError,
  RegionNotFoundError,
  failpoint,
  intersectRanges,
  rangesOverlap,
  isRegionStoreError,
  toRegionStoreError,
  TimeoutError,
  withTimeout,
  type KeyRange,
  type RegionId,
} from '@regionstore/core';
import {
  createRedis,
  histogram,
  type Histogram,
  type Logger,
  type RedisClient,
  type RedisTarget,
  type Registry,
} from '@regionstore/runtime';
import { BackupTask, RestoreRunner, type BackupEndpoint } from '@regionstore/backup';
import {
  firstNewerThan,
  listRegionLocalStates,
  middleKey,
  readApplyState,
  readRegionLocalState,
  type KvEngine,
} from '@regionstore/engine';
import {
  decodeJobPayload,
  encodeJobResult,
  isJobName,
  type Epoch,
  type JobName,
  type JobPayload,
  type JobResult,
} from '@regionstore/protocol';
import { ApplyHandle, RegionTask, prepareSnapshotApply, type RegionRunner } from '@regionstore/region-runner';
import { checkAllowedStorage, createStorage, type ExternalStorage } from '@regionstore/storage-backends';
import { mergeDone, newerEpoch, type WorkerGroup } from '@regionstore/worker-group';
import { JobWorker } from '@regionstore/jobs';
import type { NodeClusterIdentity } from './cluster-identity';
import { JobProgress } from './job-progress';
import { RegionWriteSink } from './region-write-sink';
import { UnrecoverableError, type Job, type Worker } from 'bullmq';

export interface NodeTaskDeps {
  nodeId: string;
  engine: KvEngine;
  /** Where region snapshots and flush manifests live (shared by every node). */
  snapshotStorage: ExternalStorage;
  group: WorkerGroup;
  runner: RegionRunner;
  backup: BackupEndpoint;
  /** Storage URL prefixes backup and restore jobs may use (`backup.allowedStorage`). */
  allowedStorage: readonly string[];
  logger: Logger;
  /**
   * The node's cluster identity: tasks that place a region here bind an unbound node first, and every
   * region task is refused while Redis does not know the node's cluster.
   */
  identity?: Pick<NodeClusterIdentity, 'bind' | 'verify'> | undefined;
  /** Told when a region starts leading here, so its lease can come with an early heartbeat. */
  onLeading?: () => void;
  /** Where `regionstore_storage_node_task_duration_seconds` goes (absent: not measured). */
  metrics?: Registry | undefined;
  /** Tasks run at once from the node's task queue, and from its bulk queue (backup, restore). */
  concurrency?: { tasks: number; bulk: number };
  /** How often a running backup or restore reports its progress on its job. */
  progressIntervalMs?: number;
}

/** The node's two queues (see QueueNames.node and QueueNames.nodeBulk). */
export interface NodeQueues {
  tasks: string;
  bulk: string;
}

/** How long a stop waits for backups and restores it told to stop. */
const STOP_GRACE_MS = 2000;

/** Whether `promise` settles (either way) within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  try {
    await withTimeout(
      promise.catch(() => undefined),
      ms,
      'stopping the task workers',
    );
    return true;
  } catch (err) {
    if (err instanceof TimeoutError) return false;
    throw err;
  }
}

/** Tasks that put region data on the node: an unbound node binds to the cluster before them. */
const PLACING: ReadonlySet<JobName> = new Set(['create-region', 'open-region', 'apply-snapshot', 'restore']);

type Handlers = {
  [N in JobName]?: (payload: JobPayload<N>, progress: JobProgress) => Promise<JobResult<N>>;
};

/**
 * Executes the metasrv's tasks for this node from its `node-<id>` queue, and backups and restores from
 * its bulk queue, each with workers of its own: however many backups run, failover tasks find a free
 * slot. Every payload is validated; a bad one fails the job at once (no retry) with the reason. Every
 * handler is idempotent, since a resumed procedure or a retried job may send the same task twice.
 */
export class NodeTaskWorker {
  private readonly workers: Worker[];
  private readonly handlers: Handlers;

  private readonly connection: RedisClient;
  /** Aborted when the node's stop will not wait any longer (see close). */
  private readonly stopping = new AbortController();
  private readonly durations: Histogram<'job' | 'outcome'> | undefined;

  constructor(
    queues: NodeQueues,
    prefix: string,
    redis: RedisTarget | string,
    private readonly deps: NodeTaskDeps,
  ) {
    this.durations =
      deps.metrics &&
      histogram<'job' | 'outcome'>(deps.metrics, {
        component: 'storage_node',
        what: 'task_duration',
        unit: 'seconds',
        help: 'Node tasks from queued to answered, by job and outcome (ok, or the error code)',
        labelNames: ['job', 'outcome'],
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30, 120],
      });
    // A connection of its own (commands wait through a Redis restart), closed with the worker.
    this.connection = createRedis(redis, 'worker');
    const connection = this.connection;
    const { group, runner } = deps;
    const lastEntry = (regionId: RegionId) => group.getRegion(regionId)?.lastEntryId ?? 0;
    /**
     * A split or merge resent after this node restarted: the region is opened again as leader, at the
     * newer epoch its local state has if the split or merge already happened here (the route still has
     * the older one until the procedure writes it), else as the route has it.
     */
    const reopenLeader = async (regionId: RegionId, range: KeyRange, epoch: Epoch) => {
      if (group.getRegion(regionId)) return;
      const local = await readRegionLocalState(deps.engine, regionId);
      const here =
        local?.state === 'Normal' && local.epoch.version > epoch.version ? local : { range, epoch };
      await group.ddl(regionId, { type: 'open', range: here.range, epoch: here.epoch, role: 'Leader' });
    };
    this.handlers = {
      'create-region': async ({ regionId, range, epoch }) => {
        const { lastEntryId } = await group.ddl(regionId, { type: 'create', range, epoch });
        return { regionId, lastEntryId };
      },
      'open-region': async ({ regionId, range, epoch, role }) => {
        const { lastEntryId } = await group.ddl(regionId, {
          type: 'open',
          range,
          epoch,
          role: role === 'leader' ? 'Leader' : 'Follower',
        });
        if (role === 'leader') deps.onLeading?.();
        return { regionId, lastEntryId };
      },
      'close-region': async ({ regionId, destroy, epoch }) => {
        const open = group.getRegion(regionId) !== undefined;
        await group.ddl(regionId, { type: 'close', destroy, ...(epoch ? { epoch } : {}) });
        return { regionId, closed: open };
      },
      'downgrade-region': async ({ regionId, epoch }) => {
        const region = group.getRegion(regionId);
        if (!region) return { regionId, lastEntryId: 0 };
        // Moved back here at a newer placement since the migration that asks read its route.
        if (epoch && newerEpoch(region.epoch, epoch))
          throw new EpochNotMatchError(
            `region ${regionId.toString()} leads here at a newer placement than the downgrade's; it is stale`,
            { regionId: regionId.toString(), epoch: region.epoch, requested: epoch },
          );
        const { lastEntryId } = await group.setRoleStateGracefully(regionId, 'Follower');
        return { regionId, lastEntryId };
      },
      // Asked again after a timeout, it answers as the first did (see handleCatchup).
      'upgrade-region': async ({ regionId, epoch }) => {
        const { lastEntryId } = await group.ddl(regionId, { type: 'catchup', writable: true, epoch });
        deps.onLeading?.();
        return { regionId, lastEntryId };
      },
      'flush-region': async ({ regionId }) => ({
        regionId,
        ...(await group.ddl(regionId, { type: 'flush' })),
      }),
      'compact-region': async ({ regionId }) => {
        await group.ddl(regionId, { type: 'compact' });
        return { regionId, lastEntryId: lastEntry(regionId) };
      },
      'catchup-region': async ({ regionId, entryId }) => {
        const { lastEntryId } = await group.ddl(regionId, {
          type: 'catchup',
          ...(entryId === undefined ? {} : { entryId }),
        });
        return { regionId, lastEntryId };
      },
      'split-region': async ({ regionId, range, epoch, splitKey, child, newEpoch, childEpoch }) => {
        // A node that restarted since the split began has not reopened the parent (the metasrv leaves
        // a region alone while a procedure runs on it).
        await reopenLeader(regionId, range, epoch);
        const { lastEntryId } = await group.splitRegion(regionId, {
          splitKey,
          child,
          epoch: newEpoch,
          childEpoch,
        });
        deps.onLeading?.();
        return { regionId, lastEntryId };
      },
      'merge-regions': async ({
        target,
        targetRange,
        targetEpoch,
        source,
        sourceRange,
        sourceEpoch,
        epoch,
      }) => {
        // A node that restarted since the merge began opens both again; once merged here, the target
        // opens merged and the source (a tombstone) is not opened again.
        await reopenLeader(target, targetRange, targetEpoch);
        const merged = group.getRegion(target)!;
        if (
          !mergeDone(merged, { type: 'merge', source, sourceRange, sourceEpoch, epoch }) &&
          !group.getRegion(source)
        )
          await group.ddl(source, { type: 'open', range: sourceRange, epoch: sourceEpoch, role: 'Leader' });
        const { lastEntryId } = await group.mergeRegions(target, { source, sourceRange, sourceEpoch, epoch });
        return { regionId: target, lastEntryId };
      },
      'split-key': async ({ regionId }) => {
        const region = group.getRegion(regionId);
        if (!region)
          throw new RegionNotFoundError(`region ${regionId.toString()} is not open on ${deps.nodeId}`);
        const splitKey = await middleKey(deps.engine, region.range);
        return { regionId, ...(splitKey ? { splitKey } : {}) };
      },
      // A snapshot is what a full flush writes: the region's data at its applied WAL entry, named by
      // term and index, recorded in the region's newest manifest with no deltas after it. A flush
      // already running answers the first request, so it may take a second.
      'generate-snapshot': async ({ regionId }) => {
        let manifest;
        for (
          let attempt = 0;
          attempt < 3 && !(manifest?.snapshot && manifest.deltas.length === 0 && !manifest.inheritedFrom);
          attempt++
        ) {
          await group.ddl(regionId, { type: 'flush', full: true });
          manifest = await group.committedManifest(regionId);
        }
        if (!manifest?.snapshot || manifest.deltas.length > 0 || manifest.inheritedFrom) {
          throw new NotFoundError(`region ${regionId.toString()} has no snapshot after its flush`);
        }
        return {
          regionId,
          name: manifest.snapshot,
          term: manifest.term,
          index: manifest.walEntryId,
          size: manifest.size,
          kvCount: manifest.kvCount,
          sha256: manifest.sha256 ?? '',
        };
      },
      'apply-snapshot': async ({ regionId, range, epoch, name, term, index, sha256 }) => {
        if (group.getRegion(regionId)) {
          throw new InvalidArgumentError(
            `region ${regionId.toString()} is open on ${deps.nodeId}; close it before applying a snapshot`,
          );
        }
        await prepareSnapshotApply(deps.engine, { regionId, range, epoch }, { regionId, term, index });
        const handle = new ApplyHandle();
        const source = { name, region: regionId, ...(sha256 ? { sha256 } : {}) };
        const status = await runner.schedule(RegionTask.apply(regionId, handle, source));
        if (status !== 'Finished') {
          throw (
            handle.error ?? new CancelledError(`snapshot apply of region ${regionId.toString()} ${status}`)
          );
        }
        return { regionId, status };
      },
      'destroy-range': async ({ regionId, range }) => {
        const serving = group.regions().find((r) => rangesOverlap(r.range, range));
        if (serving) {
          throw new InvalidArgumentError(
            `region ${serving.regionId.toString()} on ${deps.nodeId} still serves part of the range; close it first`,
          );
        }
        await runner.schedule(RegionTask.destroy(regionId, range.start, range.end));
        return { regionId };
      },
      backup: async ({ request }, progress) => {
        checkAllowedStorage(request.storage, deps.allowedStorage);
        // `delay(ms)`: the routes may change (a split, a move) between the metasrv's ask and the scan
        await failpoint('backup_before_seek');
        const task = BackupTask.create(request);
        progress.track(() => task.entriesRead);
        const cancel = () => task.cancel();
        progress.signal.addEventListener('abort', cancel);
        if (progress.signal.aborted) cancel();
        try {
          deps.backup.run(task);
          const responses = [];
          for await (const response of task.responses()) responses.push(response);
          stoppedBy(progress.signal, 'backup');
          return { responses };
        } finally {
          progress.signal.removeEventListener('abort', cancel);
        }
      },
      // Asked of the leader: a follower's copy may lag behind versions the leader already holds.
      'newer-version': async ({ regionId, range, ts }, progress) => {
        const region = group.getRegion(regionId);
        if (!region)
          throw new RegionNotFoundError(`region ${regionId.toString()} is not open on ${deps.nodeId}`);
        if (!region.isWritable)
          throw new NotLeaderError(`region ${regionId.toString()} does not lead on ${deps.nodeId}`, {
            regionId: regionId.toString(),
          });
        const part = intersectRanges(range, region.range);
        if (!part) return { regionId, covered: [] };
        const scanned = { keys: 0 };
        progress.track(() => scanned.keys);
        const found = await firstNewerThan(deps.engine, part, ts, { scanned, signal: progress.signal }).catch(
          (err: unknown) => {
            stoppedBy(progress.signal, 'newer-version');
            throw err;
          },
        );
        return { regionId, covered: [part], ...(found ? { found } : {}) };
      },
      'local-regions': async () => {
        const regions = [];
        for (const local of await listRegionLocalStates(deps.engine)) {
          const applied = await readApplyState(deps.engine, local.regionId);
          regions.push({
            regionId: local.regionId,
            state: local.state,
            range: local.range,
            epoch: local.epoch,
            ...(applied ? { appliedIndex: applied.appliedIndex } : {}),
          });
        }
        return { regions };
      },
      restore: async ({ storage, files, ranges, verified }, progress) => {
        checkAllowedStorage(storage, deps.allowedStorage);
        const sink = new RegionWriteSink(group, ranges, deps.nodeId);
        progress.track(() => sink.written);
        const runner = new RestoreRunner({
          storage: createStorage(storage),
          sink,
          verified,
          signal: progress.signal,
        });
        const restored = await runner.run({ files }).catch((err: unknown) => {
          stoppedBy(progress.signal, 'restore');
          throw err;
        });
        return { files: restored.files, kvs: sink.written };
      },
    };
    const concurrency = deps.concurrency ?? { tasks: 8, bulk: 2 };
    const lane = (queue: string, slots: number) => {
      const worker = new JobWorker(queue, (job) => this.process(job), {
        connection,
        prefix,
        concurrency: slots,
        autorun: true,
      });
      worker.on('error', (err) => deps.logger.warn({ err, queue }, 'node task worker error'));
      return worker;
    };
    this.workers = [lane(queues.tasks, concurrency.tasks), lane(queues.bulk, concurrency.bulk)];
  }

  /** Times a task from when it was queued to its answer: what the metasrv waits, queue included. */
  private async process(job: Job): Promise<unknown> {
    // A name no handler knows is one label value, not one per name a queue writer made up.
    const name = isJobName(job.name) ? job.name : 'unknown';
    const outcome = (code: string) =>
      this.durations?.observe({ job: name, outcome: code }, Math.max(0, Date.now() - job.timestamp) / 1000);
    try {
      const result = await this.run(job);
      outcome('ok');
      return result;
    } catch (err) {
      outcome(failureCode(err));
      throw err;
    }
  }

  private async run(job: Job): Promise<unknown> {
    const name = job.name;
    if (!isJobName(name) || !this.handlers[name]) {
      throw new UnrecoverableError(
        JSON.stringify({ code: 'InvalidArgument', message: `unknown job '${name}'`, details: {} }),
      );
    }
    let payload;
    try {
      payload = decodeJobPayload(name, job.data);
    } catch (err) {
      throw new UnrecoverableError(JSON.stringify(toRegionStoreError(err).toJSON()));
    }
    try {
      await this.checkIdentity(name);
      const handler = this.handlers[name] as (p: unknown, progress: JobProgress) => Promise<unknown>;
      const progress = new JobProgress(job, this.deps.progressIntervalMs ?? 1000, this.stopping.signal);
      const result = await handler(payload, progress).finally(() => progress.stop());
      return encodeJobResult(name, result as never);
    } catch (err) {
      const body = toRegionStoreError(err).toJSON();
      this.deps.logger.warn({ jobName: name, jobId: job.id, err: body }, 'node task failed');
      // Typed errors travel as JSON in the failure reason; the metasrv turns them back into classes.
      // Not on a stopping node: a retry would wait here for it to come back instead of going to the
      // region's next leader.
      const retryable =
        err instanceof Error &&
        !this.stopping.signal.aborted &&
        (isRegionStoreError(err, 'ServerIsBusy') || isRegionStoreError(err, 'StorageError'));
      throw retryable ? new Error(JSON.stringify(body)) : new UnrecoverableError(JSON.stringify(body));
    }
  }

  private async checkIdentity(name: JobName): Promise<void> {
    const identity = this.deps.identity;
    // Saying what it holds and closing a region place nothing: a recovery needs both before Redis knows the cluster again.
    if (!identity || name === 'local-regions' || name === 'close-region') return;
    if (PLACING.has(name)) await identity.bind();
    const problem = await identity.verify();
    if (problem) throw problem;
  }

  /**
   * Stops taking jobs and waits for running ones, at most `timeoutMs`; then tells backups and restores
   * still running to stop (BullMQ ignores a forced close once a close began) and waits for them at most
   * `STOP_GRACE_MS` more, so the engine does not close under them.
   */
  async close(timeoutMs: number): Promise<void> {
    const closed = Promise.all(this.workers.map((worker) => worker.close()));
    if (!(await settlesWithin(closed, timeoutMs))) {
      this.stopping.abort();
      await settlesWithin(closed, STOP_GRACE_MS);
    }
    this.connection.disconnect();
  }
}

/**
 * A backup or restore the node's stop cut short fails as ServerIsBusy, which the job retries and the
 * metasrv takes as "ask the region's leader again", not as the operation's failure.
 */
function stoppedBy(signal: AbortSignal, what: string): void {
  if (signal.aborted) throw new ServerIsBusyError(`${what} stopped: the node is shutting down`);
}

/** The code of a task's failure: its reason is the typed error's JSON (see run). */
function failureCode(err: unknown): string {
  try {
    const { code } = JSON.parse((err as Error).message) as { code?: unknown };
    return typeof code === 'string' ? code : 'Internal';
  } catch {
    return 'Internal';
  }
}

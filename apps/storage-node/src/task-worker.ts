import {
  createRedis,
  InvalidArgumentError,
  type Redis,
  isRegionStoreError,
  toRegionStoreError,
  type KeyRange,
  type Logger,
  type RegionId,
  rangeContains,
} from '@regionstore/core';
import { BackupTask, RestoreRunner, type BackupEndpoint, type RestoreSink } from '@regionstore/backup';
import type { CfName, KvEntry, MvccVersion } from '@regionstore/engine';
import {
  decodeJobPayload,
  encodeJobResult,
  isJobName,
  type JobName,
  type JobPayload,
  type JobResult,
} from '@regionstore/protocol';
import { RegionTask, type RegionRunner } from '@regionstore/region-runner';
import { createStorage } from '@regionstore/storage-backends';
import type { Mutation, WorkerGroup } from '@regionstore/worker-group';
import { UnrecoverableError, Worker, type Job } from 'bullmq';

export interface NodeTaskDeps {
  nodeId: string;
  group: WorkerGroup;
  runner: RegionRunner;
  backup: BackupEndpoint;
  logger: Logger;
}

/** Restored data goes through the write path of the regions this node leads (so it is in the WAL). */
class RegionWriteSink implements RestoreSink {
  /** Versions written here (the rest belong to other nodes). */
  written = 0;

  constructor(
    private readonly group: WorkerGroup,
    private readonly ranges: KeyRange[],
  ) {}

  async writeVersions(versions: MvccVersion[]): Promise<void> {
    const byRegion = new Map<string, { regionId: RegionId; mutations: Mutation[] }>();
    for (const version of versions) {
      if (this.ranges.length > 0 && !this.ranges.some((r) => rangeContains(r, version.key))) continue;
      const region = this.group
        .regions()
        .find((r) => r.role === 'Leader' && rangeContains(r.range, version.key));
      if (!region) continue; // another node leads it and restores it
      const entry = byRegion.get(region.regionId.toString()) ?? { regionId: region.regionId, mutations: [] };
      entry.mutations.push(
        version.value === undefined
          ? { op: 'delete', key: version.key }
          : { op: 'put', key: version.key, value: version.value },
      );
      byRegion.set(region.regionId.toString(), entry);
    }
    await Promise.all([...byRegion.values()].map((w) => this.group.write(w)));
    for (const w of byRegion.values()) this.written += w.mutations.length;
  }

  async writeRaw(cf: CfName, _entries: KvEntry[]): Promise<void> {
    throw new InvalidArgumentError(
      `raw restore of CF '${cf}' through regions is not supported; restore into an engine`,
    );
  }
}

type Handlers = { [N in JobName]?: (payload: JobPayload<N>) => Promise<JobResult<N>> };

/**
 * Executes the metasrv's tasks for this node from its `node-<id>` queue. Every payload is validated;
 * a bad one fails the job at once (no retry) with the reason. Every handler is idempotent, since a
 * resumed procedure or a retried job may send the same task twice.
 */
export class NodeTaskWorker {
  private readonly worker: Worker;
  private readonly handlers: Handlers;

  private readonly connection: Redis;

  constructor(
    queueName: string,
    prefix: string,
    redisUrl: string,
    private readonly deps: NodeTaskDeps,
  ) {
    // A connection of its own (commands wait through a Redis restart), closed with the worker.
    this.connection = createRedis(redisUrl, 'worker');
    const connection = this.connection;
    const { group, runner } = deps;
    const lastEntry = (regionId: RegionId) => group.getRegion(regionId)?.lastEntryId ?? 0;
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
        return { regionId, lastEntryId };
      },
      'close-region': async ({ regionId, destroy }) => {
        const region = group.getRegion(regionId);
        await group.ddl(regionId, { type: 'close' });
        if (destroy && region)
          await runner.schedule(RegionTask.destroy(regionId, region.range.start, region.range.end));
        return { regionId, closed: region !== undefined };
      },
      'downgrade-region': async ({ regionId }) => {
        if (!group.getRegion(regionId)) return { regionId, lastEntryId: 0 };
        const { lastEntryId } = await group.setRoleStateGracefully(regionId, 'Follower');
        return { regionId, lastEntryId };
      },
      'upgrade-region': async ({ regionId, epoch }) => {
        const region = group.getRegion(regionId);
        if (region?.role === 'Leader' && region.epoch.confVer === epoch.confVer)
          return { regionId, lastEntryId: region.lastEntryId };
        const { lastEntryId } = await group.ddl(regionId, { type: 'catchup', writable: true, epoch });
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
      backup: async ({ request }) => {
        const task = BackupTask.create(request);
        deps.backup.run(task);
        const responses = [];
        for await (const response of task.responses()) responses.push(response);
        return { responses };
      },
      restore: async ({ storage, files, ranges }) => {
        const sink = new RegionWriteSink(group, ranges);
        const restored = await new RestoreRunner({ storage: createStorage(storage), sink }).run({ files });
        return { files: restored.files, kvs: sink.written };
      },
    };
    this.worker = new Worker(queueName, (job) => this.process(job), {
      connection,
      prefix,
      concurrency: 8,
      autorun: true,
    });
    this.worker.on('error', (err) => deps.logger.warn({ err }, 'node task worker error'));
  }

  private async process(job: Job): Promise<unknown> {
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
      const handler = this.handlers[name] as (p: unknown) => Promise<unknown>;
      const result = await handler(payload);
      return encodeJobResult(name, result as never);
    } catch (err) {
      const body = toRegionStoreError(err).toJSON();
      this.deps.logger.warn({ job: name, jobId: job.id, err: body }, 'node task failed');
      // Typed errors travel as JSON in the failure reason; the metasrv turns them back into classes.
      const retryable =
        err instanceof Error &&
        (isRegionStoreError(err, 'ServerIsBusy') || isRegionStoreError(err, 'StorageError'));
      throw retryable ? new Error(JSON.stringify(body)) : new UnrecoverableError(JSON.stringify(body));
    }
  }

  /** Stops taking jobs and waits for running ones, at most `timeoutMs`. */
  async close(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.worker.close(),
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          void this.worker.close(true);
          resolve();
        }, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    this.connection.disconnect();
  }
}

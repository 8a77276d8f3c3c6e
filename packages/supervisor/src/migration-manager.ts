import { randomUUID } from 'node:crypto';
import {
  InvalidArgumentError,
  MigrationRunningError,
  NotFoundError,
  RealTimeProvider,
  TableRouteNotFoundError,
  type RegionId,
  type TimeProvider,
} from '@regionstore/core';
import {
  counter,
  createMetricsRegistry,
  histogram,
  type Registry,
  silentLogger,
  type Logger,
  type RedisClient,
} from '@regionstore/runtime';
import { clusterKey } from '@regionstore/protocol';
import { z } from 'zod';
import type { RegionMigrationSubmitter, RegionMigrationTask } from './migration-submitter';
import { RegionMigrationProcedure, migrationStateSchema, type MigrationState } from './migration-procedure';
import type { FenceStore, LeaseExpiry, RegionNodeClient, RouteStore } from './migration-ports';
import type { SplitNodeClient, SplitObservers, SplitRouteStore } from './split-ports';
import { RegionSplitProcedure, splitStateSchema, type SplitState } from './split-procedure';

/** A split to start: at `splitKey`, or at the middle of the region's data when none is given. */
export interface RegionSplitTask {
  regionId: RegionId;
  splitKey?: Buffer;
  /** Why: `manual`, `size`. */
  reason: string;
  timeoutMs: number;
}

export type ProcedureState = MigrationState | SplitState;

export interface RegionMigrationManagerOptions {
  redis: RedisClient;
  /** The cluster's Redis key prefix. */
  keyPrefix: string;
  routes: RouteStore;
  nodes: RegionNodeClient;
  fences: FenceStore;
  time?: TimeProvider;
  logger?: Logger;
  downgradeTimeoutMs?: number;
  retryBaseMs?: number;
  leases?: LeaseExpiry;
  metrics?: Registry;
  /** What splits need; without it, `startSplit` refuses. */
  split?: { routes: SplitRouteStore; nodes: SplitNodeClient; observers: SplitObservers };
}

/**
 * Starts, runs and resumes region procedures: migrations and splits. At most one runs per region (a
 * Redis lock that outlives a metasrv; a split's child counts as its region too), their states live in
 * Redis, and `resumeAll` lets a new metasrv leader finish what the previous one started. `stop` (leadership lost) halts them at once, leaving their
 * saved state for the next leader.
 */
export class RegionMigrationManager implements RegionMigrationSubmitter {
  private readonly running = new Map<string, { regionIds: () => bigint[]; done: Promise<ProcedureState> }>();
  private controller = new AbortController();
  private readonly time: TimeProvider;
  private readonly logger: Logger;
  private readonly metrics;

  constructor(private readonly options: RegionMigrationManagerOptions) {
    this.time = options.time ?? new RealTimeProvider();
    this.logger = options.logger ?? silentLogger();
    const registry = options.metrics ?? createMetricsRegistry({ defaultMetrics: false });
    this.metrics = {
      ended: counter<'status'>(registry, {
        component: 'supervisor',
        what: 'migrations',
        unit: 'total',
        help: 'Region migrations (failover, operator or balance) that ended, by final status',
        labelNames: ['status'],
      }),
      duration: histogram(registry, {
        component: 'supervisor',
        what: 'migration_duration',
        unit: 'seconds',
        help: 'Time from a migration start to its end (Done, Aborted or Failed)',
        buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      }),
      splits: counter<'status'>(registry, {
        component: 'supervisor',
        what: 'splits',
        unit: 'total',
        help: 'Region splits that ended, by final status',
        labelNames: ['status'],
      }),
      step: histogram<'step'>(registry, {
        component: 'supervisor',
        what: 'migration_step_duration',
        unit: 'seconds',
        help: 'Time of each migration step that succeeded, by step',
        labelNames: ['step'],
        buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
      }),
    };
  }

  private key(id: string): string {
    return clusterKey(this.options.keyPrefix, 'procedure', id);
  }

  private lockKey(regionId: RegionId | string): string {
    return clusterKey(this.options.keyPrefix, 'migration-lock', regionId.toString());
  }

  private get runningSet(): string {
    return clusterKey(this.options.keyPrefix, 'procedures', 'running');
  }

  /** Procedures this manager runs now. */
  get runningCount(): number {
    return this.running.size;
  }

  isMigrating(regionId: RegionId): boolean {
    for (const entry of this.running.values()) if (entry.regionIds().includes(regionId.value)) return true;
    return false;
  }

  /** Starts a procedure; MigrationRunning if one runs for the region, TableRouteNotFound if it has no route. */
  async submit(task: RegionMigrationTask): Promise<void> {
    await this.start(task);
  }

  /** Takes the region's lock for a new procedure `id`, if it has a route and nothing else holds it. */
  private async lock(regionId: RegionId, id: string): Promise<void> {
    const { redis } = this.options;
    const locked = await redis.set(this.lockKey(regionId), id, 'NX');
    if (locked !== 'OK') {
      const holder = await redis.get(this.lockKey(regionId));
      throw new MigrationRunningError(`a procedure on region ${regionId.toString()} is running (${holder})`, {
        regionId: regionId.toString(),
        procedureId: holder,
      });
    }
    if (!(await this.options.routes.get(regionId))) {
      await redis.del(this.lockKey(regionId));
      throw new TableRouteNotFoundError(`region ${regionId.toString()} has no route`, {
        regionId: regionId.toString(),
      });
    }
  }

  /** Like `submit`, returning the procedure id. */
  async start(task: RegionMigrationTask): Promise<string> {
    if (task.fromPeer.id === task.toPeer.id) {
      throw new MigrationRunningError(`region ${task.regionId.toString()} is already on ${task.toPeer.id}`);
    }
    const id = randomUUID();
    await this.lock(task.regionId, id);
    const now = this.time.now();
    const state: MigrationState = {
      id,
      regionId: task.regionId.toString(),
      from: task.fromPeer,
      to: task.toPeer,
      step: 'RegionMigrationStart',
      status: 'Running',
      createdMs: now,
      deadlineMs: now + task.timeoutMs,
      context: { fenceMoved: false, downgraded: false },
    };
    await this.save(state);
    this.launch(state);
    return id;
  }

  /** Starts a split of a region; returns the procedure id (errors as `start`). */
  async startSplit(task: RegionSplitTask): Promise<string> {
    if (!this.options.split) throw new InvalidArgumentError('this metasrv does not split regions');
    const id = randomUUID();
    await this.lock(task.regionId, id);
    const now = this.time.now();
    const state: SplitState = {
      kind: 'split',
      id,
      regionId: task.regionId.toString(),
      step: 'SplitStart',
      status: 'Running',
      createdMs: now,
      deadlineMs: now + task.timeoutMs,
      reason: task.reason,
      context: { followers: [], ...(task.splitKey ? { splitKey: task.splitKey } : {}) },
    };
    await this.save(state);
    this.launch(state);
    return id;
  }

  /** Picks up every procedure the previous leader left running. */
  async resumeAll(): Promise<string[]> {
    if (this.controller.signal.aborted) this.controller = new AbortController();
    const ids = await this.options.redis.smembers(this.runningSet);
    const resumed: string[] = [];
    for (const id of ids) {
      if (this.running.has(id)) continue;
      const state = await this.get(id);
      if (state.status !== 'Running') continue;
      this.logger.info(
        { procedure: id, region: state.regionId, step: state.step, kind: state.kind ?? 'migration' },
        'resuming region procedure',
      );
      this.launch(state);
      resumed.push(id);
    }
    return resumed;
  }

  /** Halts every procedure of this manager; their saved state stays for the next leader. */
  async stop(): Promise<void> {
    this.controller.abort();
    await Promise.allSettled([...this.running.values()].map((entry) => entry.done));
  }

  async get(id: string): Promise<ProcedureState> {
    const raw = await this.options.redis.get(this.key(id));
    if (!raw) throw new NotFoundError(`no procedure ${id}`, { procedureId: id });
    const json = JSON.parse(raw) as { kind?: string };
    return json.kind === 'split' ? splitStateSchema.parse(json) : migrationStateSchema.parse(json);
  }

  /** Resolves with the final state of a procedure this manager runs. */
  async wait(id: string): Promise<ProcedureState> {
    const entry = this.running.get(id);
    return entry ? entry.done : this.get(id);
  }

  private async save(state: ProcedureState): Promise<void> {
    const body = state.kind === 'split' ? z.encode(splitStateSchema, state) : state;
    const multi = this.options.redis.multi().set(this.key(state.id), JSON.stringify(body));
    if (state.status === 'Running') multi.sadd(this.runningSet, state.id);
    else multi.srem(this.runningSet, state.id).del(this.lockKey(state.regionId));
    await multi.exec();
  }

  private launch(state: ProcedureState): void {
    if (state.kind === 'split') return this.launchSplit(state);
    const procedure = new RegionMigrationProcedure(state, {
      routes: this.options.routes,
      nodes: this.options.nodes,
      fences: this.options.fences,
      time: this.time,
      logger: this.logger,
      save: (s) => this.save(s),
      downgradeTimeoutMs: this.options.downgradeTimeoutMs ?? 5000,
      retryBaseMs: this.options.retryBaseMs ?? 200,
      ...(this.options.leases ? { leases: this.options.leases } : {}),
      observeStep: (step, seconds) => this.metrics.step.observe({ step }, seconds),
    });
    const done = procedure
      .execute(this.controller.signal)
      .then((final) => {
        if (final.status !== 'Running') {
          this.metrics.ended.inc({ status: final.status });
          this.metrics.duration.observe((this.time.now() - final.createdMs) / 1000);
          this.logger.info(
            { procedure: final.id, region: final.regionId, status: final.status },
            'region migration ended',
          );
        }
        return final;
      })
      .finally(() => this.running.delete(state.id));
    this.running.set(state.id, { regionIds: () => [procedure.regionId.value], done });
  }

  private launchSplit(state: SplitState): void {
    const split = this.options.split!;
    const procedure = new RegionSplitProcedure(state, {
      ...split,
      time: this.time,
      logger: this.logger,
      save: (s) => this.save(s),
      retryBaseMs: this.options.retryBaseMs ?? 200,
    });
    const done = procedure
      .execute(this.controller.signal)
      .then((final) => {
        if (final.status !== 'Running') {
          this.metrics.splits.inc({ status: final.status });
          this.logger.info(
            {
              procedure: final.id,
              region: final.regionId,
              child: final.context.childId,
              reason: final.reason,
              status: final.status,
              ...(final.error ? { error: final.error } : {}),
            },
            'region split ended',
          );
        }
        return final;
      })
      .finally(() => this.running.delete(state.id));
    this.running.set(state.id, { regionIds: () => procedure.regionIds(), done });
  }
}

import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import {
  InvalidArgumentError,
  MigrationRunningError,
  NotLeaderError,
  NotFoundError,
  RealTimeProvider,
  TableRouteNotFoundError,
  RegionId,
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
import { clusterKey, metasrvLeaderKey } from '@regionstore/protocol';
import { z } from 'zod';
import type { RegionMigrationSubmitter, RegionMigrationTask } from './migration-submitter';
import { ProcedureEndedError } from './procedure-steps';
import { RegionMigrationProcedure, migrationStateSchema, type MigrationState } from './migration-procedure';
import type { FenceStore, LeaseExpiry, RegionNodeClient, RouteStore } from './migration-ports';
import type { SplitNodeClient, SplitObservers, SplitRouteStore } from './split-ports';
import { RegionSplitProcedure, splitStateSchema, type SplitState } from './split-procedure';
import type { MergeNodeClient, MergeRouteStore } from './merge-ports';
import { RegionMergeProcedure, mergeStateSchema, type MergeState } from './merge-procedure';

/** A merge to start: `source` into the adjacent `regionId`, both led by one node. */
export interface RegionMergeTask {
  regionId: RegionId;
  source: RegionId;
  reason: string;
  timeoutMs: number;
}

/** A procedure's state as stored (keys as base64). */
export function encodeProcedureState(state: ProcedureState): unknown {
  if (state.kind === 'split') return z.encode(splitStateSchema, state);
  if (state.kind === 'merge') return z.encode(mergeStateSchema, state);
  return state;
}

/** A split to start: at `splitKey`, or at the middle of the region's data when none is given. */
export interface RegionSplitTask {
  regionId: RegionId;
  splitKey?: Buffer;
  /** Why: `manual`, `size`, `load`. */
  reason: string;
  timeoutMs: number;
}

export type ProcedureState = MigrationState | SplitState | MergeState;

export interface RegionMigrationManagerOptions {
  redis: RedisClient;
  /** The cluster's Redis key prefix. */
  keyPrefix: string;
  /**
   * The metasrv instance running procedures: claims and saves check in Redis that it still holds the
   * leader key (unset: no check, for tests and tools).
   */
  writer?: string;
  routes: RouteStore;
  nodes: RegionNodeClient;
  fences: FenceStore;
  time?: TimeProvider;
  logger?: Logger;
  downgradeTimeoutMs?: number;
  retryBaseMs?: number;
  leases?: LeaseExpiry;
  metrics?: Registry;
  /**
   * Told of the regions of a split or merge once it ended, however: a failure detected while it held
   * them dropped their detectors (the procedure was in charge), and the routes' writes re-watched only
   * the leaders named before that. They must watch their leaders again.
   */
  onRangeProcedureEnded?: (regionIds: RegionId[]) => void;
  /** What splits and merges need; without it, `startSplit` and `startMerge` refuse. */
  split?: {
    routes: SplitRouteStore & MergeRouteStore;
    nodes: SplitNodeClient & MergeNodeClient;
    observers: SplitObservers;
  };
}

/**
 * The first check of CLAIM and SAVE: KEYS[3] is the metasrv leader key, ARGV[3] the writing instance
 * ('' for none). A deposed leader that resumes after a pause saves nothing (it could move a procedure
 * back a step, or abandon a split whose child the new leader routed).
 */
const WHILE_LEADING = `
if ARGV[3] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[3] then return -1 end`;

/**
 * KEYS: the procedure's key, the running set, the leader key, its region locks; ARGV: its id, its
 * state, the writer, its status. Returns 0, changing nothing, when the stored state is final already;
 * else saves it, and a final one leaves the running set and deletes the locks that still name it.
 */
const SAVE = `${WHILE_LEADING}
local saved = redis.call('GET', KEYS[1])
if saved then
  local ok, decoded = pcall(cjson.decode, saved)
  if ok and decoded.status ~= 'Running' then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[4] == 'Running' then
  redis.call('SADD', KEYS[2], ARGV[1])
else
  redis.call('SREM', KEYS[2], ARGV[1])
  for i = 4, #KEYS do
    if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
  end
end
return 1
`;

/**
 * The signal every running procedure listens to while it sleeps between retries: a node that dies
 * with many regions starts as many procedures at once, each a listener, far past the 10 Node.js warns
 * of.
 */
function procedureController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}

/**
 * KEYS: the new procedure's key, the running set, the leader key, the locks to take; ARGV: its id, its
 * state, the writer. Returns nil once it holds every lock and saved the state, or {n, holder} for the
 * n-th lock a running procedure holds (then nothing changed).
 */
const CLAIM = `${WHILE_LEADING}
for i = 4, #KEYS do
  local holder = redis.call('GET', KEYS[i])
  if holder and redis.call('SISMEMBER', KEYS[2], holder) == 1 then return {i - 3, holder} end
end
for i = 4, #KEYS do redis.call('SET', KEYS[i], ARGV[1]) end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
return nil
`;

/**
 * Starts, runs and resumes region procedures: migrations and splits. At most one runs per region (a
 * Redis lock that outlives a metasrv; a split's child counts as its region too), their states live in
 * Redis, and `resumeAll` lets a new metasrv leader finish what the previous one started. `stop` (leadership lost) halts them at once, leaving their
 * saved state for the next leader.
 */
export class RegionMigrationManager implements RegionMigrationSubmitter {
  private readonly running = new Map<
    string,
    { regionIds: () => bigint[]; done: Promise<ProcedureState>; changesRange: boolean }
  >();
  private controller = procedureController();
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
      splits: counter<'kind' | 'status'>(registry, {
        component: 'supervisor',
        what: 'range_changes',
        unit: 'total',
        help: 'Region splits and merges that ended, by kind and final status',
        labelNames: ['kind', 'status'],
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

  /** Whether a split or merge holds the region (its range is about to change). */
  isChangingRange(regionId: RegionId): boolean {
    for (const entry of this.running.values())
      if (entry.changesRange && entry.regionIds().includes(regionId.value)) return true;
    return false;
  }

  /** Starts a procedure; MigrationRunning if one runs for the region, TableRouteNotFound if it has no route. */
  async submit(task: RegionMigrationTask): Promise<void> {
    await this.start(task);
  }

  /**
   * Takes the locks of `regionIds` for the new procedure in `state` and saves that state, in one
   * script: a metasrv that dies in between leaves no lock without a procedure. A lock whose holder is
   * not running (left by a metasrv of an older version, which locked before it saved) is taken over.
   * MigrationRunning if a running procedure holds one; TableRouteNotFound if a region has no route.
   */
  private async claim(regionIds: RegionId[], state: ProcedureState): Promise<void> {
    const { routes } = this.options;
    for (const regionId of regionIds) {
      if (!(await routes.get(regionId))) {
        throw new TableRouteNotFoundError(`region ${regionId.toString()} has no route`, {
          regionId: regionId.toString(),
        });
      }
    }
    const held = (await this.runScript(
      CLAIM,
      state,
      regionIds.map((id) => id.toString()),
    )) as [number, string] | -1 | null;
    if (held === -1) throw this.notLeading(state);
    if (held) {
      const regionId = regionIds[held[0] - 1]!;
      throw new MigrationRunningError(
        `a procedure on region ${regionId.toString()} is running (${held[1]})`,
        {
          regionId: regionId.toString(),
          procedureId: held[1],
        },
      );
    }
  }

  /** Like `submit`, returning the procedure id. */
  async start(task: RegionMigrationTask): Promise<string> {
    if (task.fromPeer.id === task.toPeer.id) {
      throw new MigrationRunningError(`region ${task.regionId.toString()} is already on ${task.toPeer.id}`);
    }
    const id = randomUUID();
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
      context: { fenceMoved: false, downgraded: false, toWasFollower: false },
    };
    await this.claim([task.regionId], state);
    this.launch(state);
    return id;
  }

  /** Starts a split of a region; returns the procedure id (errors as `start`). */
  async startSplit(task: RegionSplitTask): Promise<string> {
    if (!this.options.split)
      throw new InvalidArgumentError(
        "splits need the metasrv's snapshotStorage (a dead leader's progress is read there)",
      );
    const id = randomUUID();
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
    await this.claim([task.regionId], state);
    this.launch(state);
    return id;
  }

  /** Starts a merge of `source` into `regionId`; returns the procedure id (errors as `start`). */
  async startMerge(task: RegionMergeTask): Promise<string> {
    if (!this.options.split)
      throw new InvalidArgumentError(
        "merges need the metasrv's snapshotStorage (a dead leader's progress is read there)",
      );
    if (task.regionId.value === task.source.value)
      throw new InvalidArgumentError(`region ${task.regionId.toString()} cannot merge into itself`);
    const id = randomUUID();
    const now = this.time.now();
    const state: MergeState = {
      kind: 'merge',
      id,
      regionId: task.regionId.toString(),
      sourceId: task.source.toString(),
      step: 'MergeStart',
      status: 'Running',
      createdMs: now,
      deadlineMs: now + task.timeoutMs,
      reason: task.reason,
      context: { followers: [] },
    };
    await this.claim([task.regionId, task.source], state);
    this.launch(state);
    return id;
  }

  /** Picks up every procedure the previous leader left running. */
  async resumeAll(): Promise<string[]> {
    if (this.controller.signal.aborted) this.controller = procedureController();
    const ids = await this.options.redis.smembers(this.runningSet);
    const resumed: string[] = [];
    for (const id of ids) {
      if (this.running.has(id)) continue;
      const state = await this.get(id);
      if (state.status !== 'Running') continue;
      this.logger.info(
        { procedure: id, regionId: state.regionId, step: state.step, kind: state.kind ?? 'migration' },
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
    if (json.kind === 'split') return splitStateSchema.parse(json);
    if (json.kind === 'merge') return mergeStateSchema.parse(json);
    return migrationStateSchema.parse(json);
  }

  /** Resolves with the final state of a procedure this manager runs. */
  async wait(id: string): Promise<ProcedureState> {
    const entry = this.running.get(id);
    return entry ? entry.done : this.get(id);
  }

  /** Runs CLAIM or SAVE on `state` and the locks of `regions` (their KEYS and ARGV as they say). */
  private runScript(script: string, state: ProcedureState, regions: string[], ...args: string[]) {
    const locks = regions.map((id) => this.lockKey(id));
    return this.options.redis.eval(
      script,
      3 + locks.length,
      this.key(state.id),
      this.runningSet,
      metasrvLeaderKey(this.options.keyPrefix),
      ...locks,
      state.id,
      JSON.stringify(encodeProcedureState(state)),
      this.options.writer ?? '',
      ...args,
    );
  }

  private notLeading(state: ProcedureState): NotLeaderError {
    return new NotLeaderError(
      `metasrv ${this.options.writer} no longer leads: procedure ${state.id} is left to the leader`,
      { procedureId: state.id, instance: this.options.writer ?? null },
    );
  }

  /**
   * Saves a procedure's state; a final one also leaves the running set and frees the locks it holds.
   * Refused (ProcedureEndedError) once the procedure ended elsewhere: a metasrv that lost leadership and still
   * runs it must neither bring it back to Running nor free a lock a newer procedure took since.
   */
  private async save(state: ProcedureState): Promise<void> {
    const regions = [state.regionId, ...(state.kind === 'merge' ? [state.sourceId] : [])];
    const saved = await this.runScript(SAVE, state, regions, state.status);
    // No longer the leader: the run stops here, and the leader resumes the procedure from what it saved.
    if (saved === -1) throw new ProcedureEndedError(this.notLeading(state).message);
    if (saved !== 1) throw new ProcedureEndedError(`procedure ${state.id} already ended elsewhere`);
  }

  private launch(state: ProcedureState): void {
    if (state.kind === 'split') return this.launchSplit(state);
    if (state.kind === 'merge') return this.launchMerge(state);
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
            { procedure: final.id, regionId: final.regionId, status: final.status },
            'region migration ended',
          );
        }
        return final;
      })
      .finally(() => this.running.delete(state.id));
    this.running.set(state.id, { regionIds: () => [procedure.regionId.value], done, changesRange: false });
  }

  private launchMerge(state: MergeState): void {
    const procedure = new RegionMergeProcedure(state, {
      ...this.options.split!,
      fences: this.options.fences,
      time: this.time,
      logger: this.logger,
      save: (s) => this.save(s),
      retryBaseMs: this.options.retryBaseMs ?? 200,
    });
    this.track(state.id, procedure, 'region merge ended');
  }

  private launchSplit(state: SplitState): void {
    const split = this.options.split!;
    const procedure = new RegionSplitProcedure(state, {
      ...split,
      fences: this.options.fences,
      time: this.time,
      logger: this.logger,
      save: (s) => this.save(s),
      retryBaseMs: this.options.retryBaseMs ?? 200,
    });
    this.track(state.id, procedure, 'region split ended');
  }

  /** Runs a split or merge; counts and logs its end. */
  private track(
    id: string,
    procedure: { execute(signal: AbortSignal): Promise<SplitState | MergeState>; regionIds(): bigint[] },
    ended: string,
  ): void {
    const done = procedure
      .execute(this.controller.signal)
      .then((final) => {
        if (final.status !== 'Running') {
          this.metrics.splits.inc({ kind: final.kind, status: final.status });
          this.options.onRangeProcedureEnded?.(procedure.regionIds().map((id) => RegionId.fromBigInt(id)));
          this.logger.info(
            {
              procedure: final.id,
              regionId: final.regionId,
              ...(final.kind === 'split' ? { child: final.context.childId } : { source: final.sourceId }),
              reason: final.reason,
              status: final.status,
              ...(final.error ? { error: final.error } : {}),
            },
            ended,
          );
        }
        return final;
      })
      .finally(() => this.running.delete(id));
    this.running.set(id, { regionIds: () => procedure.regionIds(), done, changesRange: true });
  }
}

import { RegionId, TimeoutError, isRegionStoreError, type TimeProvider } from '@regionstore/core';
import type { Logger } from '@regionstore/runtime';
import type { FenceStore, RouteStore } from './migration-ports';
import type { Peer } from './peer';
import { runSteps } from './procedure-steps';
import type { SplitObservers } from './split-ports';

/** How often a procedure waiting on its leader's step checks, past the deadline, that it is alive. */
const LEADER_WATCH_MS = 1000;
/** Checks in a row that must find the leader dead (a heartbeat late once on a busy node is not death). */
const LEADER_DEAD_CHECKS = 3;

/** What a split's and a merge's saved states share. */
export interface RangeProcedureState<S extends string> {
  id: string;
  regionId: string;
  step: S;
  status: 'Running' | 'Done' | 'Aborted' | 'Failed';
  deadlineMs: number;
  error?: string;
  /**
   * The leader was judged dead and cut off the regions' WALs (see `fencedRegions`): the routes the
   * procedure writes from then on name the epochs past the fence.
   */
  fencedOut?: boolean;
}

export interface RangeProcedureDeps<T> {
  observers: SplitObservers;
  time: TimeProvider;
  logger: Logger;
  save(state: T): Promise<void>;
  fences: FenceStore;
  routes: Pick<RouteStore, 'update'>;
  /** First retry delay of a failed step; doubles up to 2 s. */
  retryBaseMs: number;
}

/**
 * A procedure that changes region ranges on their leader (split, merge): steps saved before they act,
 * run by runSteps, forward-only once `leaderStep` was sent, except when the leader is dead past the
 * deadline: then it first moves the regions' WAL fences one placement on (still naming the leader), so
 * a leader that was only paused or cut off from the metasrv can commit no flush after the verdict
 * and write nothing until it opens the regions again at the routes' new epoch; then it goes on to
 * `afterLeader` if the leader's flushes show the change reached the object store (`flushedThrough`),
 * and otherwise to `abandonStep`, which deletes what the change made and keeps the routes' ranges.
 * Without the fence a paused leader could commit the change's flush after an abandon (a split parent
 * holding half its range while the routes and the child's deleted files said otherwise: the other
 * half lost).
 */
export abstract class RangeProcedure<S extends string, T extends RangeProcedureState<S>> {
  protected abstract readonly kind: string;
  /** The step the leader acts in, and the one after it. */
  protected abstract readonly leaderStep: S;
  protected abstract readonly afterLeader: S;

  constructor(
    public state: T,
    protected readonly deps: RangeProcedureDeps<T>,
  ) {}

  get regionId(): RegionId {
    return RegionId.parse(this.state.regionId);
  }

  /** The regions it owns while it runs. */
  abstract regionIds(): bigint[];

  protected abstract runStep(step: S, signal: AbortSignal): Promise<S>;

  /** The leader it asked, and whether its flushes hold the change. */
  protected abstract leader(): Peer | undefined;
  protected abstract flushedThrough(): Promise<boolean>;
  /**
   * The step that deletes what the change made and no route will name, keeps the routes' ranges at the
   * epochs past the fence (`keepRoutesPastFence`) and ends Aborted; saved before it acts, so a resumed
   * procedure goes on abandoning, never with the change.
   */
  protected abstract readonly abandonStep: S;
  /** The regions whose WAL the leader writes for the change, and the placement (confVer) past it. */
  protected abstract fencedRegions(): Array<{ regionId: RegionId; confVer: number }>;
  /** The saved context with the routes-to-be at the placements past the fence. */
  protected abstract contextPastFence(): T;

  async execute(signal: AbortSignal): Promise<T> {
    await runSteps(
      {
        kind: this.kind,
        regionId: this.state.regionId,
        current: () => (this.state.status === 'Running' ? this.state.step : undefined),
        runStep: (step, signal) => {
          if (step !== this.leaderStep) return this.runStep(step, signal);
          // Cut off already (a new metasrv leader resumed it): the verdict again, never the leader's step.
          if (this.state.fencedOut) return this.judge(this.leader()!);
          return this.whileLeaderLives(this.runStep(step, signal), signal);
        },
        transition: (step) => this.transition(step),
        fail: (message) => this.finish('Failed', message),
        afterFailure: async (step) => {
          if (step === this.leaderStep && this.deps.time.now() > this.state.deadlineMs)
            await this.whenLeaderGone();
        },
      },
      this.deps,
      signal,
    );
    return this.state;
  }

  /**
   * The leader's step, given up once the leader is dead past the deadline: a dead node's job never
   * answers, and only its timeout (minutes) would end the wait, the regions locked meanwhile. The
   * failure leads to the verdict (`afterFailure`); the job, should it still run, finds the regions
   * fenced on.
   */
  private whileLeaderLives(step: Promise<S>, signal: AbortSignal): Promise<S> {
    const leader = this.leader();
    return this.unlessDead(
      step,
      leader,
      () => this.deps.time.now() > this.state.deadlineMs,
      () =>
        new TimeoutError(`${this.kind} leader ${leader?.id} is dead past the deadline; its step is given up`),
      signal,
    );
  }

  /**
   * Whether `leader` is dead: found so in `LEADER_DEAD_CHECKS` checks a second apart (a metasrv just
   * elected has heard no heartbeat yet, and a busy node's may come late).
   */
  protected async isDead(leader: Peer, signal: AbortSignal): Promise<boolean> {
    for (let check = 0; check < LEADER_DEAD_CHECKS; check++) {
      if (check > 0) await this.deps.time.sleep(LEADER_WATCH_MS, signal);
      if (await this.deps.observers.isAlive(leader.id).catch(() => true)) return false;
    }
    return true;
  }

  /**
   * `work`, or `dead()`'s error once `leader` was found dead in `LEADER_DEAD_CHECKS` checks in a row,
   * counted only while `watched()` says so.
   */
  protected async unlessDead<R>(
    work: Promise<R>,
    leader: Peer | undefined,
    watched: () => boolean,
    dead: () => Error,
    signal: AbortSignal,
  ): Promise<R> {
    const watching = new AbortController();
    const stop = () => watching.abort();
    signal.addEventListener('abort', stop, { once: true });
    const watch = (async (): Promise<never> => {
      for (let checks = 0; ;) {
        await this.deps.time.sleep(LEADER_WATCH_MS, watching.signal);
        if (!watched() || !leader) continue;
        // Redis failing the check says nothing of the leader: it counts as alive.
        const alive = await this.deps.observers.isAlive(leader.id).catch(() => true);
        checks = alive ? 0 : checks + 1;
        if (checks >= LEADER_DEAD_CHECKS) throw dead();
      }
    })();
    work.catch(() => undefined); // given up: its end no longer matters
    watch.catch(() => undefined);
    try {
      return await Promise.race([work, watch]);
    } finally {
      stop();
      signal.removeEventListener('abort', stop);
    }
  }

  /** A live leader is only slow (keep going); a dead one is cut off, then its flushes decide. */
  private async whenLeaderGone(): Promise<void> {
    const leader = this.leader();
    if (!leader || (await this.deps.observers.isAlive(leader.id))) return;
    await this.transition(await this.judge(leader));
  }

  /** Fences the leader out (saved first: the routes must follow the fences), then reads its flushes. */
  private async judge(leader: Peer): Promise<S> {
    if (!this.state.fencedOut) {
      // Held only once saved: a save that failed must not let a later attempt move the fences.
      const fenced = { ...this.contextPastFence(), fencedOut: true };
      await this.deps.save(fenced);
      this.state = fenced;
    }
    for (const { regionId, confVer } of this.fencedRegions()) {
      try {
        await this.deps.fences.setFence(regionId, { nodeId: leader.id, epoch: confVer });
      } catch (err) {
        // Moved past it already (by this procedure's earlier run, or the region went on without it).
        if (!isRegionStoreError(err, 'EpochNotMatch')) throw err;
      }
    }
    if (await this.flushedThrough()) {
      this.deps.logger.warn(
        { regionId: this.state.regionId, nodeId: leader.id },
        `${this.kind} leader is dead after its flushes; going on`,
      );
      return this.afterLeader;
    }
    const reason = `leader ${leader.id} died before the ${this.kind} reached the object store`;
    this.state = { ...this.state, error: reason };
    return this.abandonStep;
  }

  /**
   * The abandoned change's regions keep their routes' ranges, at the placements past the fence: the
   * leader opens them there again, or a failover moves on from there.
   */
  protected async keepRoutesPastFence(): Promise<void> {
    if (!this.state.fencedOut) return;
    for (const { regionId, confVer } of this.fencedRegions()) {
      await this.deps.routes.update(regionId, (current) =>
        current.epoch.confVer >= confVer ? undefined : { epoch: { version: current.epoch.version, confVer } },
      );
    }
  }

  protected async transition(step: S): Promise<void> {
    this.state = { ...this.state, step };
    await this.deps.save(this.state);
  }

  protected async finish(status: 'Done' | 'Aborted' | 'Failed', error?: string): Promise<void> {
    this.state = { ...this.state, status, ...(error ? { error } : {}) };
    await this.deps.save(this.state);
  }
}

import { RegionId, type TimeProvider } from '@regionstore/core';
import type { Logger } from '@regionstore/runtime';
import type { Peer } from './peer';
import { runSteps } from './procedure-steps';
import type { SplitObservers } from './split-ports';

/** What a split's and a merge's saved states share. */
export interface RangeProcedureState<S extends string> {
  id: string;
  regionId: string;
  step: S;
  status: 'Running' | 'Done' | 'Aborted' | 'Failed';
  deadlineMs: number;
  error?: string;
}

export interface RangeProcedureDeps<T> {
  observers: SplitObservers;
  time: TimeProvider;
  logger: Logger;
  save(state: T): Promise<void>;
  /** First retry delay of a failed step; doubles up to 2 s. */
  retryBaseMs: number;
}

/**
 * A procedure that changes region ranges on their leader (split, merge): steps saved before they act,
 * run by runSteps, forward-only once `leaderStep` was sent, except when the leader is dead past the
 * deadline: then it goes on to `afterLeader` if the leader's flushes show the change reached the
 * object store (`flushedThrough`), and ends Aborted otherwise, the routes unchanged (through
 * `abandonStep` where the change left something to delete).
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

  protected abstract runStep(step: S): Promise<S>;

  /** The leader it asked, and whether its flushes hold the change. */
  protected abstract leader(): Peer | undefined;
  protected abstract flushedThrough(): Promise<boolean>;
  /**
   * The step that deletes what the change made and no route will name, then ends Aborted; saved
   * before it acts, so a resumed procedure goes on deleting, never with the change. None: end at once.
   */
  protected readonly abandonStep: S | undefined = undefined;

  async execute(signal: AbortSignal): Promise<T> {
    await runSteps(
      {
        kind: this.kind,
        regionId: this.state.regionId,
        current: () => (this.state.status === 'Running' ? this.state.step : undefined),
        runStep: (step) => this.runStep(step),
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

  /** A live leader is only slow (keep going); a dead one's flushes decide. */
  private async whenLeaderGone(): Promise<void> {
    const leader = this.leader();
    if (!leader || (await this.deps.observers.isAlive(leader.id))) return;
    if (await this.flushedThrough()) {
      this.deps.logger.warn(
        { region: this.state.regionId, node: leader.id },
        `${this.kind} leader is dead after its flushes; going on`,
      );
      await this.transition(this.afterLeader);
    } else {
      const reason = `leader ${leader.id} died before the ${this.kind} reached the object store`;
      if (!this.abandonStep) return this.finish('Aborted', reason);
      this.state = { ...this.state, error: reason };
      await this.transition(this.abandonStep);
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

import {
  InvalidArgumentError,
  TableRouteNotFoundError,
  failpoint,
  type TimeProvider,
} from '@regionstore/core';
import type { Logger } from '@regionstore/runtime';

/** One kind of persisted procedure, as the step loop drives it (migration, split). */
export interface ProcedureSteps<S extends string> {
  /** Names its fail points (`region_<kind>_after_<step>`) and its log lines. */
  readonly kind: string;
  readonly regionId: string;
  /** The saved step, while the procedure runs; undefined once it ended. */
  current(): S | undefined;
  /** Acts for `step`; returns the step that follows. */
  runStep(step: S, signal: AbortSignal): Promise<S>;
  /** Saves `step` as the next one. */
  transition(step: S): Promise<void>;
  /** Ends the procedure as Failed: an error no retry cures. */
  fail(message: string): Promise<void>;
  /** After a failed step and its backoff: what the deadline asks of this kind, if anything. */
  afterFailure(step: S): Promise<void>;
}

/**
 * A save refused because the procedure already ended, as stored (another metasrv finished it while
 * this one, no longer the leader, still ran it). Internal to the procedures: it only stops a run.
 */
export class ProcedureEndedError extends Error {}

/**
 * A step that refused before the procedure changed anything, for a reason no retry cures while the
 * procedure holds its regions (their leader is dead, or has not reopened them): it ends Failed.
 * Internal to the procedures, so no error a node answers with ends one half-way.
 */
export class ProcedureRefusedError extends Error {}

/** Runs `action`; true when it found the procedure ended elsewhere. */
async function stopIfEnded(action: () => Promise<void>): Promise<boolean> {
  try {
    await action();
    return false;
  } catch (err) {
    if (err instanceof ProcedureEndedError) return true;
    throw err;
  }
}

/**
 * Runs a procedure's steps to its end, or until `signal` aborts (the state stays where it was saved).
 * A step that fails is retried after a backoff doubling from `retryBaseMs` up to 2 s; a missing route,
 * a bad argument or a refusal (ProcedureRefusedError) ends it at once.
 */
export async function runSteps<S extends string>(
  procedure: ProcedureSteps<S>,
  deps: {
    time: TimeProvider;
    logger: Logger;
    retryBaseMs: number;
    observeStep?: (step: S, seconds: number) => void;
  },
  signal: AbortSignal,
): Promise<void> {
  let attempt = 0;
  for (let step = procedure.current(); step !== undefined && !signal.aborted; step = procedure.current()) {
    try {
      const started = deps.time.now();
      const next = await procedure.runStep(step, signal);
      deps.observeStep?.(step, (deps.time.now() - started) / 1000);
      attempt = 0;
      if (signal.aborted || procedure.current() === undefined) break;
      // A test hook and a crash point: the step acted, the next one is not saved yet.
      await failpoint(`region_${procedure.kind}_after_${step}`);
      if (signal.aborted) break;
      await procedure.transition(next);
    } catch (err) {
      // The procedure ended elsewhere (a newer metasrv leader finished it): stop here.
      if (err instanceof ProcedureEndedError) break;
      if (
        err instanceof TableRouteNotFoundError ||
        err instanceof InvalidArgumentError ||
        err instanceof ProcedureRefusedError
      ) {
        await stopIfEnded(() => procedure.fail((err as Error).message));
        break;
      }
      attempt++;
      deps.logger.warn(
        { regionId: procedure.regionId, step, attempt, err },
        `${procedure.kind} step failed; retrying`,
      );
      const delay = Math.min(2000, deps.retryBaseMs * 2 ** (attempt - 1));
      await deps.time.sleep(delay, signal).catch(() => undefined);
      try {
        if (!signal.aborted && (await stopIfEnded(() => procedure.afterFailure(step)))) break;
      } catch (checkErr) {
        // Redis or the object store failed it: the procedure goes on from its saved step, and checks again.
        deps.logger.warn(
          { regionId: procedure.regionId, step, err: checkErr },
          `${procedure.kind} deadline check failed`,
        );
      }
    }
  }
}

import { CancelledError } from '@regionstore/core';

export const ApplyStatus = {
  Pending: 'Pending',
  Running: 'Running',
  Finished: 'Finished',
  Cancelling: 'Cancelling',
  Cancelled: 'Cancelled',
  Failed: 'Failed',
} as const;
export type ApplyStatus = (typeof ApplyStatus)[keyof typeof ApplyStatus];

const FINAL: ReadonlySet<ApplyStatus> = new Set(['Finished', 'Cancelled', 'Failed']);

/**
 * The shared status of one snapshot apply: the requester reads it and may cancel; the runner moves it
 * `Pending → Running → Finished | Cancelled | Failed`. A cancel is honoured between the apply's
 * steps (`Cancelling`, then `Cancelled`), never in the middle of a write.
 */
export class ApplyHandle {
  private current: ApplyStatus = ApplyStatus.Pending;
  private failure: Error | undefined;
  private resolveDone!: (status: ApplyStatus) => void;
  /** Resolves with the final status. */
  readonly done: Promise<ApplyStatus> = new Promise((resolve) => (this.resolveDone = resolve));

  get status(): ApplyStatus {
    return this.current;
  }

  /** Why the apply failed, when it did. */
  get error(): Error | undefined {
    return this.failure;
  }

  /** Asks the runner to stop; returns false if the apply already ended. */
  cancel(): boolean {
    if (FINAL.has(this.current)) return false;
    this.current = ApplyStatus.Cancelling;
    return true;
  }

  /** Runner side: Pending → Running, unless a cancel came first. */
  start(): void {
    if (this.current === ApplyStatus.Pending) this.current = ApplyStatus.Running;
  }

  /** Runner side: throws CancelledError if a cancel was requested. */
  checkAbort(): void {
    if (this.current === ApplyStatus.Cancelling) throw new CancelledError('snapshot apply was cancelled');
  }

  /** Runner side: records the outcome. */
  finish(status: 'Finished' | 'Cancelled' | 'Failed', error?: Error): void {
    this.current = status;
    this.failure = error;
    this.resolveDone(status);
  }
}

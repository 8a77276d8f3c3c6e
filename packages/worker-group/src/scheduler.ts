import { WorkerStoppedError } from '@regionstore/core';
import PQueue from 'p-queue';

/** Background jobs (flush, compaction, purge) with a concurrency limit of their own. */
export class LocalScheduler {
  private readonly queue: PQueue;
  private stopped = false;

  constructor(
    readonly name: string,
    concurrency: number,
  ) {
    this.queue = new PQueue({ concurrency });
  }

  /** Runs `job` when a slot is free; fails at once if the scheduler is stopped. */
  schedule<T>(job: () => Promise<T>): Promise<T> {
    if (this.stopped) return Promise.reject(new WorkerStoppedError(`the ${this.name} scheduler is stopped`));
    return this.queue.add(job);
  }

  get running(): number {
    return this.queue.pending;
  }

  get waiting(): number {
    return this.queue.size;
  }

  /** Refuses new jobs; graceful waits for queued and running ones, otherwise drops the queued ones. */
  async stop(graceful: boolean): Promise<void> {
    this.stopped = true;
    if (!graceful) this.queue.clear();
    await this.queue.onIdle();
  }
}

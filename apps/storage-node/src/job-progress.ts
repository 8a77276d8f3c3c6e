import type { Job } from 'bullmq';

/**
 * Reports how far a long task got on its BullMQ job, every `intervalMs` while the count grows. The
 * metasrv waiting on the task tells a slow one (the count grows) from a node that died or hangs (no
 * report comes), instead of giving up on any task that outlasts a fixed timeout. `signal` aborts when
 * the node stops and will not wait for the task any longer.
 */
export class JobProgress {
  private read: (() => number) | undefined;
  private reported = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly job: Pick<Job, 'updateProgress'>,
    private readonly intervalMs: number,
    readonly signal: AbortSignal,
  ) {}

  /** Reports `read()` (KVs read, KVs written: any count that only grows) from now until `stop`. */
  track(read: () => number): void {
    this.read = read;
    this.timer ??= setInterval(() => void this.report(), this.intervalMs);
  }

  private async report(): Promise<void> {
    const count = this.read?.() ?? 0;
    if (count === this.reported) return;
    this.reported = count;
    // A lost report only makes the waiting metasrv's next one count for more.
    await this.job.updateProgress(count).catch(() => undefined);
  }

  /** Ends the reports with the final count, so even a task shorter than the interval reports it. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    if (this.read) await this.report();
  }
}

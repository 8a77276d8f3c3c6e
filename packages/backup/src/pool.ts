import PQueue from 'p-queue';

/**
 * The backup workers (TiKV's ControlThreadPool) as async tasks on a queue with a concurrency limit.
 * It grows when a task asks for more workers, shrinks only when more than 10 would be idle, keeps
 * running tasks across a resize, and is dropped after a long idle time.
 */
export class BackupPool {
  private queue: PQueue | undefined;
  private lastActiveMs: number;

  constructor(private readonly now: () => number) {
    this.lastActiveMs = now();
  }

  get size(): number {
    return this.queue?.concurrency ?? 0;
  }

  adjustWith(newSize: number): void {
    if (this.queue && this.size >= newSize && this.size - newSize <= 10) return;
    if (this.queue) this.queue.concurrency = newSize;
    else this.queue = new PQueue({ concurrency: newSize });
  }

  spawn(job: () => Promise<void>): Promise<void> {
    if (!this.queue) throw new Error('backup pool used before adjustWith');
    return this.queue.add(job);
  }

  heartbeat(): void {
    this.lastActiveMs = this.now();
  }

  /** Drops the pool once it has been idle for `idleThresholdMs` (its running jobs finish first). */
  checkActive(idleThresholdMs: number): void {
    if (this.now() - this.lastActiveMs >= idleThresholdMs) this.queue = undefined;
  }
}

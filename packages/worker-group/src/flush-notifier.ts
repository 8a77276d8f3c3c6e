/**
 * A group-wide "a flush finished" signal (GreptimeDB's watch channel): every worker waits on it, and
 * each keeps the version it has seen, so a notification is never missed and never handled twice.
 */
export class FlushNotifier {
  private current = 0;
  private waiter: { promise: Promise<void>; resolve: () => void } | undefined;

  get version(): number {
    return this.current;
  }

  private readonly listeners = new Set<() => void>();

  notify(): void {
    this.current += 1;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.resolve();
    for (const listener of this.listeners) listener();
  }

  /**
   * Calls `listener` on every notification until the returned function is called. For a loop that
   * waits many times: awaiting `changed` in each wait would pile a reaction per wait onto one promise
   * that may stay pending for a long time.
   */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once the version is past `seen`; all waiters share one promise. */
  changed(seen: number): Promise<void> {
    if (this.current > seen) return Promise.resolve();
    if (!this.waiter) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.waiter = { promise, resolve };
    }
    return this.waiter.promise;
  }
}

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

  notify(): void {
    this.current += 1;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.resolve();
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

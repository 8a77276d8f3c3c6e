/**
 * A group-wide "a flush finished" signal (GreptimeDB's watch channel). Workers subscribe once and keep
 * the version they have seen, so a notification is never missed and never handled twice. Listeners,
 * not a shared promise: a loop that awaited one in every wait would pile a reaction per wait onto a
 * promise that may stay pending for a long time.
 */
export class FlushNotifier {
  private current = 0;
  private readonly listeners = new Set<() => void>();

  get version(): number {
    return this.current;
  }

  notify(): void {
    this.current += 1;
    for (const listener of this.listeners) listener();
  }

  /** Calls `listener` on every notification until the returned function is called. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

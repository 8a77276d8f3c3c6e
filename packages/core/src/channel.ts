import { WorkerStoppedError } from './errors';

/**
 * A bounded FIFO between producers and one consumer: `send` waits while the channel is full (so a
 * flood of requests slows its senders instead of growing memory), `recv` waits while it is empty.
 * `readable` lets a consumer wait for an item together with other events without taking it, so an
 * item is never lost to a race that another event won.
 */
export class Channel<T> {
  private readonly items: T[] = [];
  private readonly receivers: Array<(item: T | undefined) => void> = [];
  private readonly senders: Array<() => void> = [];
  private readableWaiter: { promise: Promise<void>; resolve: () => void } | undefined;
  private closed = false;

  constructor(
    readonly capacity: number,
    /** Named in the error a send to a closed channel gets. */
    readonly name = 'channel',
  ) {}

  get size(): number {
    return this.items.length;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async send(item: T): Promise<void> {
    while (!this.closed && this.items.length >= this.capacity && this.receivers.length === 0) {
      await new Promise<void>((resolve) => this.senders.push(resolve));
    }
    if (this.closed) throw new WorkerStoppedError(`the ${this.name} is closed`);
    const receiver = this.receivers.shift();
    if (receiver) {
      receiver(item);
      return;
    }
    this.items.push(item);
    this.wakeReadable();
  }

  /** The next item, or undefined once the channel is closed and drained. */
  async recv(): Promise<T | undefined> {
    const item = this.tryRecv();
    if (item !== undefined || this.closed) return item;
    return new Promise((resolve) => this.receivers.push(resolve));
  }

  /** The next item if one is queued, without waiting. */
  tryRecv(): T | undefined {
    const item = this.items.shift();
    if (item !== undefined) this.senders.shift()?.();
    return item;
  }

  /** Resolves once an item is queued or the channel is closed; all waiters share one promise. */
  readable(): Promise<void> {
    if (this.items.length > 0 || this.closed) return Promise.resolve();
    if (!this.readableWaiter) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.readableWaiter = { promise, resolve };
    }
    return this.readableWaiter.promise;
  }

  /** Items already queued; for tests, diagnostics and shutdown. */
  drain(): T[] {
    const out = this.items.splice(0);
    for (const wake of this.senders.splice(0)) wake();
    return out;
  }

  close(): void {
    this.closed = true;
    for (const receiver of this.receivers.splice(0)) receiver(undefined);
    for (const wake of this.senders.splice(0)) wake();
    this.wakeReadable();
  }

  private wakeReadable(): void {
    const waiter = this.readableWaiter;
    this.readableWaiter = undefined;
    waiter?.resolve();
  }
}

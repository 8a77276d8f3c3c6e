import { WorkerStoppedError } from '@regionstore/core';

/**
 * A bounded FIFO between producers and one consumer: `send` waits while the channel is full (so a
 * flood of heartbeats slows its senders instead of growing memory), `recv` waits while it is empty.
 */
export class EventChannel<T> {
  private readonly items: T[] = [];
  private readonly receivers: Array<(item: T | undefined) => void> = [];
  private readonly senders: Array<() => void> = [];
  private closed = false;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.items.length;
  }

  async send(item: T): Promise<void> {
    while (!this.closed && this.items.length >= this.capacity && this.receivers.length === 0) {
      await new Promise<void>((resolve) => this.senders.push(resolve));
    }
    if (this.closed) throw new WorkerStoppedError('the supervisor event channel is closed');
    const receiver = this.receivers.shift();
    if (receiver) receiver(item);
    else this.items.push(item);
  }

  /** The next item, or undefined once the channel is closed and drained. */
  async recv(): Promise<T | undefined> {
    const item = this.items.shift();
    if (item !== undefined) {
      this.senders.shift()?.();
      return item;
    }
    if (this.closed) return undefined;
    return new Promise((resolve) => this.receivers.push(resolve));
  }

  /** Items already queued; for tests and diagnostics. */
  drain(): T[] {
    const out = this.items.splice(0);
    for (const wake of this.senders.splice(0)) wake();
    return out;
  }

  close(): void {
    this.closed = true;
    for (const receiver of this.receivers.splice(0)) receiver(undefined);
    for (const wake of this.senders.splice(0)) wake();
  }
}

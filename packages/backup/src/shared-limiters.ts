import { RateLimiter } from '@regionstore/storage-backends';

/** A limiter lent to a task, given back when the task ends. */
export interface LentLimiter {
  limiter: RateLimiter;
  release(): void;
}

/**
 * The node's rate limiters, one per backup destination and rate, shared by every task writing there
 * at once. A cluster backup sends the node a task per region and the node runs several together:
 * with a limiter per task, `rateLimit` would bound each region, and the node would write several
 * times the rate asked.
 */
export class SharedLimiters {
  private readonly lent = new Map<string, { limiter: RateLimiter; users: number }>();

  acquire(storage: string, bytesPerSecond: number): LentLimiter {
    const key = `${bytesPerSecond} ${storage}`;
    let entry = this.lent.get(key);
    if (!entry) {
      entry = { limiter: new RateLimiter(bytesPerSecond), users: 0 };
      this.lent.set(key, entry);
    }
    entry.users++;
    const held = entry;
    let released = false;
    return {
      limiter: held.limiter,
      release: () => {
        if (released) return;
        released = true;
        if (--held.users === 0) this.lent.delete(key);
      },
    };
  }

  /** Limiters lent out now. */
  get size(): number {
    return this.lent.size;
  }
}

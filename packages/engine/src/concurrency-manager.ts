import { compareKeys, type KeyRange, type Timestamp, type TimestampAllocator } from '@regionstore/core';

/** A write in flight: its key will get a version at `ts` once the write is applied. */
export interface WriteIntent {
  key: Buffer;
  ts: Timestamp;
}

export interface WriteGuard {
  readonly ts: Timestamp;
  /** Drops the intents; call once the write is applied (or has failed). */
  release(): void;
}

/**
 * TiKV's concurrency manager: hands out commit timestamps and keeps the intents of writes in flight,
 * so a reader at a timestamp (a backup) can tell whether a write it must see is still unfinished.
 *
 * A write takes its timestamp and registers its intents in one synchronous step, so no reader can
 * raise `maxTs` and check the intents in between: a write either shows up as an intent or commits
 * above the reader's timestamp.
 */
export class ConcurrencyManager {
  private readonly intents = new Map<string, WriteIntent[]>();

  constructor(readonly timestamps: TimestampAllocator) {}

  /**
   * Takes a commit timestamp for a write of `keys` and registers their intents. `at` keeps a given
   * timestamp instead (a restore writing versions at their original commit ts); `maxTs` is raised to
   * it, so every write allocated afterwards commits above the restored versions.
   */
  beginWrite(keys: Buffer[], at?: Timestamp): WriteGuard {
    if (at !== undefined) this.timestamps.updateMaxTs(at);
    const ts = at ?? this.timestamps.next();
    const mine: Array<[string, WriteIntent]> = keys.map((key) => [key.toString('hex'), { key, ts }]);
    for (const [id, intent] of mine) {
      const list = this.intents.get(id);
      if (list) list.push(intent);
      else this.intents.set(id, [intent]);
    }
    let released = false;
    return {
      ts,
      release: () => {
        if (released) return;
        released = true;
        for (const [id, intent] of mine) {
          const list = this.intents.get(id)!.filter((other) => other !== intent);
          if (list.length === 0) this.intents.delete(id);
          else this.intents.set(id, list);
        }
      },
    };
  }

  /** Raises `maxTs` so later writes commit above `ts` (readers call it before they read at `ts`). */
  updateMaxTs(ts: Timestamp): void {
    this.timestamps.updateMaxTs(ts);
  }

  /** The first in-flight intent in `range` (user keys) at or below `readTs`, in key order. */
  findIntentInRange(range: KeyRange, readTs: Timestamp): WriteIntent | undefined {
    let found: WriteIntent | undefined;
    for (const list of this.intents.values()) {
      for (const intent of list) {
        if (intent.ts > readTs) continue;
        if (compareKeys(intent.key, range.start) < 0) continue;
        if (range.end.length > 0 && compareKeys(intent.key, range.end) >= 0) continue;
        if (!found || compareKeys(intent.key, found.key) < 0) found = intent;
      }
    }
    return found;
  }

  get intentCount(): number {
    let count = 0;
    for (const list of this.intents.values()) count += list.length;
    return count;
  }
}

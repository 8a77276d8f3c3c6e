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
  /**
   * The writes in flight, each with all its keys: one entry per write, not per key, as this runs for
   * every write and is read only by readers at a ts (backups, replica reads).
   */
  private readonly writes = new Set<{ keys: Buffer[]; ts: Timestamp }>();

  constructor(readonly timestamps: TimestampAllocator) {}

  /**
   * Takes a commit timestamp for a write of `keys` and registers their intents. `at` keeps a given
   * timestamp instead (a restore writing versions at their original commit ts); `maxTs` is raised to
   * it, so every write allocated afterwards commits above the restored versions.
   */
  beginWrite(keys: Buffer[], at?: Timestamp): WriteGuard {
    if (at !== undefined) this.timestamps.updateMaxTs(at);
    const ts = at ?? this.timestamps.next();
    const write = { keys, ts };
    this.writes.add(write);
    return { ts, release: () => this.writes.delete(write) };
  }

  /** Raises `maxTs` so later writes commit above `ts` (readers call it before they read at `ts`). */
  updateMaxTs(ts: Timestamp): void {
    this.timestamps.updateMaxTs(ts);
  }

  /** The first in-flight intent in `range` (user keys) at or below `readTs`, in key order. */
  findIntentInRange(range: KeyRange, readTs: Timestamp): WriteIntent | undefined {
    let found: WriteIntent | undefined;
    for (const { keys, ts } of this.writes) {
      if (ts > readTs) continue;
      for (const key of keys) {
        if (compareKeys(key, range.start) < 0) continue;
        if (range.end.length > 0 && compareKeys(key, range.end) >= 0) continue;
        if (!found || compareKeys(key, found.key) < 0) found = { key, ts };
      }
    }
    return found;
  }

  get intentCount(): number {
    let count = 0;
    for (const { keys } of this.writes) count += keys.length;
    return count;
  }
}

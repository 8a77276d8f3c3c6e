import {
  InvalidArgumentError,
  TsTooOldError,
  composeTimestamp,
  physicalOf,
  type TimeProvider,
  type Timestamp,
} from '@regionstore/core';
import type { ConcurrencyManager } from '@regionstore/engine';
import type { GcSafePoint } from './gc-safe-point';

/**
 * The rules for reads at a timestamp on this node (TiKV's concurrency manager and GC safepoint check):
 * a read at ts T is refused below the GC safepoint (`TsTooOld`: those versions may be gone) or further
 * ahead of this node's clock than `maxReadAheadMs`; an admitted read raises the node's max ts to T, so
 * every write the node commits afterwards lands above T and the same read repeated returns the same.
 *
 * A region's next leader cannot know the reads its previous leader served, so it starts its writes
 * `maxReadAheadMs` ahead of its clock (`coverEarlierLeaders`): a read at most that far ahead of the old
 * leader's clock stays repeatable on the new one, as long as the nodes' clocks agree that closely.
 */
export class ReadTimestamps {
  constructor(
    private readonly safePoint: GcSafePoint,
    private readonly concurrency: ConcurrencyManager,
    private readonly time: TimeProvider,
    private readonly maxReadAheadMs: number,
  ) {}

  /** Call before reading at `ts`. */
  admit(ts: Timestamp): void {
    this.checkNotCollected(ts);
    const limit = composeTimestamp(Math.floor(this.time.now()) + this.maxReadAheadMs + 1);
    if (ts >= limit) {
      throw new InvalidArgumentError(
        `read ts ${ts} is ${physicalOf(ts) - Math.floor(this.time.now())} ms ahead of this node's clock; at most maxReadAheadMs (${this.maxReadAheadMs}) is allowed`,
        { ts: ts.toString(), maxReadAheadMs: this.maxReadAheadMs },
      );
    }
    this.concurrency.updateMaxTs(ts);
  }

  /** Call after reading at `ts`: a GC that started meanwhile above `ts` may have removed what it read. */
  confirm(ts: Timestamp): void {
    this.checkNotCollected(ts);
  }

  /** A region starts leading here: its writes go above any read an earlier leader may have admitted. */
  coverEarlierLeaders(): void {
    this.concurrency.updateMaxTs(composeTimestamp(Math.floor(this.time.now()) + this.maxReadAheadMs));
  }

  private checkNotCollected(ts: Timestamp): void {
    const safePoint = this.safePoint.value;
    if (ts < safePoint) {
      throw new TsTooOldError(
        `read ts ${ts} is below the GC safepoint ${safePoint}: versions older than the safepoint may have been collected; read at a later ts`,
        { ts: ts.toString(), safePoint: safePoint.toString() },
      );
    }
  }
}

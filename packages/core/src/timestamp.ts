import { InvalidArgumentError } from './errors';
import type { TimeProvider } from './time';

/**
 * A hybrid-logical timestamp: physical milliseconds in the high 46 bits and a logical counter in the
 * low 18 bits, as TiKV's TSO lays it out. Kept as a bigint; ordering is plain numeric ordering.
 */
export type Timestamp = bigint;

export const LOGICAL_BITS = 18n;
export const MAX_LOGICAL = (1 << Number(LOGICAL_BITS)) - 1;
export const MAX_TIMESTAMP: Timestamp = (1n << 64n) - 1n;
export const ZERO_TIMESTAMP: Timestamp = 0n;

export function composeTimestamp(physicalMs: number, logical = 0): Timestamp {
  if (!Number.isSafeInteger(physicalMs) || physicalMs < 0) {
    throw new InvalidArgumentError(`physical time must be a non-negative integer, got ${physicalMs}`);
  }
  if (!Number.isInteger(logical) || logical < 0 || logical > MAX_LOGICAL) {
    throw new InvalidArgumentError(`logical counter must be in [0, ${MAX_LOGICAL}], got ${logical}`);
  }
  return (BigInt(physicalMs) << LOGICAL_BITS) | BigInt(logical);
}

export function physicalOf(ts: Timestamp): number {
  return Number(ts >> LOGICAL_BITS);
}

export function logicalOf(ts: Timestamp): number {
  return Number(ts & BigInt(MAX_LOGICAL));
}

export function checkTimestamp(ts: Timestamp): Timestamp {
  if (ts < 0n || ts > MAX_TIMESTAMP) {
    throw new InvalidArgumentError(`timestamp ${ts} does not fit in 64 unsigned bits`, { ts: ts.toString() });
  }
  return ts;
}

/** Parses a decimal timestamp (as carried in JSON and CLI flags). */
export function parseTimestamp(text: string): Timestamp {
  if (!/^\d{1,20}$/.test(text)) {
    throw new InvalidArgumentError(`invalid timestamp '${text}': expected a 64-bit decimal`, { text });
  }
  return checkTimestamp(BigInt(text));
}

/**
 * Hands out strictly increasing commit timestamps for one node. `updateMaxTs` raises the floor (TiKV's
 * concurrency manager `max_ts`): a reader at ts T calls it so no later commit can land at or below T.
 */
export class TimestampAllocator {
  private last: Timestamp = ZERO_TIMESTAMP;

  constructor(private readonly time: TimeProvider) {}

  next(): Timestamp {
    const fromClock = composeTimestamp(Math.floor(this.time.now()));
    // A clock that stands still or steps back still yields increasing values via the logical part.
    this.last = fromClock > this.last ? fromClock : this.last + 1n;
    return this.last;
  }

  updateMaxTs(ts: Timestamp): void {
    checkTimestamp(ts);
    if (ts > this.last) this.last = ts;
  }

  /** The largest timestamp handed out or raised to so far. */
  maxTs(): Timestamp {
    return this.last;
  }
}

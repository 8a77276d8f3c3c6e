import { ZERO_TIMESTAMP, type Timestamp } from '@regionstore/core';
import type { WorkerRegion } from './region';

/**
 * The cluster GC safepoint as this node last heard it from the metasrv (in its heartbeat replies).
 * Versions a read at or above it may need are kept; it never moves back, so a read admitted above it
 * stays safe from every GC this node runs later. Zero (nothing heard yet) collects nothing.
 */
export class GcSafePoint {
  private current: Timestamp = ZERO_TIMESTAMP;

  get value(): Timestamp {
    return this.current;
  }

  /** Takes `ts` if it is newer; an older one (a stale reply) is ignored. */
  advance(ts: Timestamp): boolean {
    if (ts <= this.current) return false;
    this.current = ts;
    return true;
  }
}

/**
 * Whether a background GC of `region` at `safePoint` could collect something its last one could not:
 * it leads or follows (each copy collects its own history; a downgrading leader is on its way out),
 * the safepoint moved, and the region has versions above the safepoint of its last GC (otherwise
 * every version was already looked at).
 */
export function gcDue(region: WorkerRegion, safePoint: Timestamp): boolean {
  return (
    region.role !== 'DowngradingLeader' &&
    !region.compacting &&
    safePoint > region.gcSafePoint &&
    region.maxTs > region.gcSafePoint
  );
}

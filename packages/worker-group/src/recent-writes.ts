import {
  WRITE_ID_TTL_MS,
  WRITE_RETRY_CLOCK_SLACK_MS,
  WRITE_RETRY_WINDOW_MS,
  physicalOf,
  type Timestamp,
} from '@regionstore/core';
import type { WriteResult } from './requests';

/** A committed write that carried an id, as its WAL entry records it. */
export interface IdentifiedWrite extends WriteResult {
  writeId: string;
}

/** The most write ids one region keeps; past it the oldest go early (and the region knows less). */
const MAX_IDS = 200_000;

/**
 * The ids of the writes a region committed lately, with their answers, so a client re-sending a write
 * whose first attempt may have landed gets that attempt's answer instead of a second copy (which
 * would undo any write made in between). Filled from the live write path and from every WAL entry the
 * copy applied (a follower's tail, a replay), so it moves with the region on a failover.
 *
 * It knows every id-carrying write committed above `completeAbove` (insertion order is commit order:
 * a region's WAL entries carry increasing commit timestamps). Below it lie writes this copy never
 * saw (it was loaded from a flush) or forgot (older than WRITE_ID_TTL_MS).
 */
export class RecentWrites {
  private readonly byId = new Map<string, WriteResult>();

  constructor(
    private completeAbove: Timestamp,
    /** The last WAL entry whose write (if it had an id) is here: a replay goes on from it. */
    public lastEntryId: number,
  ) {}

  /** A copy for a region that goes on with this one's history in a WAL of its own, at `lastEntryId`. */
  continuedAt(lastEntryId: number): RecentWrites {
    const copy = new RecentWrites(this.completeAbove, lastEntryId);
    for (const [id, result] of this.byId) copy.byId.set(id, result);
    return copy;
  }

  /** Takes in the writes of another region's history (a merge's source), knowing no more than both. */
  absorb(other: RecentWrites): void {
    for (const [id, result] of other.byId) if (!this.byId.has(id)) this.byId.set(id, result);
    if (other.completeAbove > this.completeAbove) this.completeAbove = other.completeAbove;
  }

  record(writes: readonly IdentifiedWrite[], lastEntryId: number, nowMs: number): void {
    for (const { writeId, commitTs, entryId } of writes) this.byId.set(writeId, { commitTs, entryId });
    if (lastEntryId > this.lastEntryId) this.lastEntryId = lastEntryId;
    this.expire(nowMs);
  }

  find(writeId: string): WriteResult | undefined {
    return this.byId.get(writeId);
  }

  /**
   * Whether a write re-sent now, whose id is not here, surely never landed: its first attempt was
   * sent within the retry window, and this copy knows every write since then.
   */
  knowsRetriesAt(nowMs: number): boolean {
    return physicalOf(this.completeAbove) < nowMs - WRITE_RETRY_WINDOW_MS - WRITE_RETRY_CLOCK_SLACK_MS;
  }

  get size(): number {
    return this.byId.size;
  }

  private expire(nowMs: number): void {
    const oldest = nowMs - WRITE_ID_TTL_MS;
    for (const [id, result] of this.byId) {
      if (physicalOf(result.commitTs) >= oldest && this.byId.size <= MAX_IDS) break;
      this.byId.delete(id);
      if (result.commitTs > this.completeAbove) this.completeAbove = result.commitTs;
    }
  }
}

/**
 * A region's recent writes after a recovery replayed its WAL: the ones it had, if the replay went on
 * from the last entry they cover, else only what the replay saw (the rest came from a flush).
 */
export function recentWritesAfter(
  current: RecentWrites | undefined,
  recovered: {
    replayedFrom: number;
    replayedWrites: IdentifiedWrite[];
    loadedMaxTs: Timestamp;
    lastEntryId: number;
  },
  nowMs: number,
): RecentWrites {
  const writes =
    current?.lastEntryId === recovered.replayedFrom
      ? current
      : new RecentWrites(recovered.loadedMaxTs, recovered.replayedFrom);
  writes.record(recovered.replayedWrites, recovered.lastEntryId, nowMs);
  return writes;
}

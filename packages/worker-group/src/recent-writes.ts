import { WRITE_ID_TTL_MS, WRITE_RETRY_CLOCK_SLACK_MS, physicalOf, type Timestamp } from '@regionstore/core';
import type { WriteResult } from './requests';

/** A committed write that carried an id, as its WAL entry records it. */
export interface IdentifiedWrite extends WriteResult {
  writeId: string;
}

/**
 * The entry of `writeId` in `byId`, or of a write it is a part of (`<id>/<i>` is a part of `<id>`): a
 * client spreads a part only over regions that held the whole, so the whole held all of its keys.
 */
export function findWrite<V>(byId: ReadonlyMap<string, V>, writeId: string): V | undefined {
  for (let id = writeId; ;) {
    const found = byId.get(id);
    if (found !== undefined) return found;
    const cut = id.lastIndexOf('/');
    if (cut <= 0) return undefined;
    id = id.slice(0, cut);
  }
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
 *
 * A client splits a write call into one part per region (`<id>/<i>`), and a part that a split spread
 * over regions into parts of it (`<id>/<i>/<j>`): a write is known if it or one it is a part of is,
 * since that one held all of its keys.
 */
export class RecentWrites {
  private readonly byId = new Map<string, WriteResult>();

  constructor(
    private completeAbove: Timestamp,
    /** The last WAL entry whose write (if it had an id) is here: a replay goes on from it. */
    public lastEntryId: number,
    /** The WAL incarnation those entries are of (a rebuilt WAL numbers its entries anew). */
    readonly walIncarnation: string | undefined,
  ) {}

  /** A copy for a region that goes on with this one's history in a WAL of its own, at `lastEntryId`. */
  continuedAt(lastEntryId: number, walIncarnation: string | undefined): RecentWrites {
    const copy = new RecentWrites(this.completeAbove, lastEntryId, walIncarnation);
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

  /** The answer of the write, or of the one it is a part of. */
  find(writeId: string): WriteResult | undefined {
    return findWrite(this.byId, writeId);
  }

  /**
   * Whether a write whose id is not here, and whose client began sending it at `firstSentMs` (its
   * clock), surely never landed: this copy knows every write committed since then.
   */
  knowsWritesSince(firstSentMs: number): boolean {
    return physicalOf(this.completeAbove) < firstSentMs - WRITE_RETRY_CLOCK_SLACK_MS;
  }

  get size(): number {
    return this.byId.size;
  }

  /** Forgets ids older than WRITE_ID_TTL_MS (or past the most one region keeps). */
  expire(nowMs: number): void {
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
    walIncarnation: string | undefined;
  },
  nowMs: number,
): RecentWrites {
  const writes =
    current?.lastEntryId === recovered.replayedFrom && current.walIncarnation === recovered.walIncarnation
      ? current
      : new RecentWrites(recovered.loadedMaxTs, recovered.replayedFrom, recovered.walIncarnation);
  writes.record(recovered.replayedWrites, recovered.lastEntryId, nowMs);
  return writes;
}

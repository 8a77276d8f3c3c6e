import type { RegionId } from '@regionstore/core';

/** Who may write a region's WAL: the node leading it at a placement epoch. */
export interface Fence {
  nodeId: string;
  epoch: number;
}

export interface WalEntry {
  /** 1, 2, 3, … per region, without gaps. */
  id: number;
  data: Buffer;
}

/** Where a region's WAL stands, read at once. */
export interface WalPosition {
  lastEntryId: number;
  trimmedEntryId: number;
  /** Names this WAL apart from earlier ones of the region (one rebuilt by a recovery has a new one). */
  incarnation: string | undefined;
}

export interface ReadOptions {
  /** Entries per round trip (and per yielded batch). */
  batchSize?: number;
  /** Last entry to read, inclusive; default: to the end. */
  toId?: number;
}

/**
 * A region's remote write-ahead log. Appends are fenced: only the node named by the region's fence, at
 * that fence's epoch, may append, so a node cut off from the metasrv cannot write once its regions
 * have moved.
 */
export interface LogStore {
  /** Appends entries atomically; returns the id of the last one. Fails with NotLeader when fenced out. */
  append(regionId: RegionId, entries: Buffer[], fence: Fence): Promise<number>;
  /** Entries from `fromId` on, in batches; fails if entries at or after `fromId` were trimmed. */
  read(regionId: RegionId, fromId: number, options?: ReadOptions): AsyncIterable<WalEntry[]>;
  /** Id of the last appended entry; 0 for an empty log. */
  lastEntryId(regionId: RegionId): Promise<number>;
  /** Highest id trimmed so far; 0 when nothing was. */
  trimmedEntryId(regionId: RegionId): Promise<number>;
  position(regionId: RegionId): Promise<WalPosition>;
  /**
   * Rebuilds a WAL that lost writes, under a new incarnation (copies of the region applied from the
   * old one are then never continued from): kept if it still reaches `entryId`, otherwise empty with
   * `entryId + 1` its next entry and no fence. Returns the id of its last entry.
   */
  restore(regionId: RegionId, entryId: number): Promise<number>;
  /** Drops entries up to and including `uptoId` (they are covered by a flushed snapshot). */
  obsolete(regionId: RegionId, uptoId: number): Promise<void>;
  /** Hands the region to a node at an epoch; refuses an older epoch, or another node at the same one. */
  setFence(regionId: RegionId, fence: Fence): Promise<void>;
  fence(regionId: RegionId): Promise<Fence | undefined>;
  /** Deletes the log and its fence (the region was dropped). */
  destroy(regionId: RegionId): Promise<void>;
}

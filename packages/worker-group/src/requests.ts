import type { KeyRange, RegionId, Timestamp } from '@regionstore/core';
import type { MvccGcResult, RegionEpoch } from '@regionstore/engine';
import type { FollowerPosition, WalEntry } from '@regionstore/log-store';
import type { FlushManifest, Mutation } from '@regionstore/region-files';
import type { Reply } from './reply';
import type { WorkerRegion } from './region';

export interface WriteRequest {
  regionId: RegionId;
  /** The epoch the client routed with; a mismatch fails with EpochNotMatch. */
  epoch?: RegionEpoch;
  mutations: Mutation[];
  /**
   * Only for restores: write the versions at this (original) commit timestamp instead of a new one.
   * Versions newer than it stay visible over the restored ones.
   */
  commitTs?: Timestamp;
  /**
   * The client's id for this write: a region that committed a write with the same id lately answers
   * with that write's result instead of applying it again (see RecentWrites).
   */
  writeId?: string;
  /** When the client's write call began (its clock), the same on every attempt. */
  firstSentMs?: number;
  /**
   * An earlier attempt may have landed. A region that does not know every write since `firstSentMs`
   * (it was loaded from a flush since, or forgot) fails it with an unknown outcome instead of guessing.
   */
  retry?: boolean;
}

export interface WriteResult {
  commitTs: Timestamp;
  /** The WAL entry holding the write. */
  entryId: number;
}

export type RegionRole = 'Leader' | 'Follower' | 'DowngradingLeader';

export interface RegionOptions {
  /** Overrides the group's autoFlushIntervalMs for this region. */
  autoFlushIntervalMs?: number;
}

export type DdlRequest =
  | { type: 'create'; range: KeyRange; epoch: RegionEpoch; options?: RegionOptions }
  | { type: 'drop' }
  | {
      type: 'open';
      range: KeyRange;
      epoch: RegionEpoch;
      role: 'Leader' | 'Follower';
      options?: RegionOptions;
    }
  /**
   * `destroy`: the region leaves this node. Its local state becomes Tombstone (with its epoch) before
   * its range is registered for deletion, so nothing local is trusted if it ever comes back. `epoch`:
   * the placement that replaced this one; opens at an older epoch are refused from then on.
   */
  | { type: 'close'; destroy?: boolean; epoch?: RegionEpoch }
  | { type: 'alter'; options: RegionOptions }
  /** `full`: a snapshot of the whole region, its manifest naming no deltas (what a snapshot job sends). */
  /**
   * `full`: a snapshot of the whole region. `incremental`: a delta wherever the region's files allow
   * one, even past the deltas' bounds (a split's parent, whose routes wait for it); the next flush
   * compacts them.
   */
  | { type: 'flush'; full?: boolean; incremental?: boolean; beforeManifest?: ManifestHook }
  | { type: 'compact' }
  | { type: 'truncate' }
  /** Replays the WAL as a follower up to `entryId` (default: its end); `writable` then makes it leader. */
  | { type: 'catchup'; entryId?: number; writable?: boolean; epoch?: RegionEpoch }
  /**
   * The leading region keeps `[start, splitKey)` at `epoch` (its version bumped); `child` gets
   * `[splitKey, end)` at `childEpoch` with a WAL of its own (see handleSplit).
   */
  | { type: 'split'; splitKey: Buffer; child: RegionId; epoch: RegionEpoch; childEpoch: RegionEpoch }
  /** The leading region stops taking writes: it is the source of a merge (see prepareMerge). */
  | { type: 'prepareMerge' }
  /** The leading region takes over the adjacent, prepared `source` at `epoch` (see handleMerge). */
  | {
      type: 'merge';
      source: RegionId;
      sourceRange: KeyRange;
      sourceEpoch: RegionEpoch;
      epoch: RegionEpoch;
      /** The source's highest commit ts: the merged region commits above it wherever it moves. */
      sourceMaxTs?: bigint;
    };

export type DdlResult = { lastEntryId: number };

/** What a finished background job tells the region's worker. */
export type BackgroundNotify =
  | {
      type: 'flushFinished';
      walEntryId: number;
      flushedBytes: number;
      snapshotBytes: number;
      /** The region's truncate count when the flush began. */
      truncates: number;
    }
  | { type: 'flushFailed'; error: Error }
  | { type: 'compactionFinished'; gc: MvccGcResult; safePoint: Timestamp }
  | { type: 'compactionFailed'; error: Error };

export type WorkerRequest =
  | { kind: 'write'; request: WriteRequest; reply: Reply<WriteResult> }
  | { kind: 'ddl'; regionId: RegionId; request: DdlRequest; reply: Reply<DdlResult> }
  | {
      kind: 'setRoleStateGracefully';
      regionId: RegionId;
      role: 'Follower' | 'DowngradingLeader';
      reply: Reply<{ lastEntryId: number }>;
    }
  | { kind: 'background'; region: WorkerRegion; notify: BackgroundNotify }
  | {
      kind: 'followerTail';
      regionId: RegionId;
      entries: WalEntry[];
      position: FollowerPosition | undefined;
      reply: Reply<void>;
    }
  | { kind: 'stop' };

/** Bytes a write adds to the write buffer (keys and values; what the WAL holds). */
export function estimatedSize(request: WriteRequest): number {
  let size = 0;
  for (const m of request.mutations) size += m.key.length + (m.op === 'put' ? m.value.length : 0);
  return size;
}

/**
 * Runs in a flush once its files are written and before its manifest is (a flush with hooks is never a
 * full one): a split's child gets copies of them first. Throwing fails the flush.
 */
export type ManifestHook = (manifest: FlushManifest) => Promise<void>;

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
  /** The last leader's resolved ts (0: none): a new leader commits above it. */
  resolvedTs: bigint;
  /** The region was retired (`retire`): no route will name it again. */
  retired?: true;
}

/** Where a follower stands in a region's WAL: it applied every entry up to `afterId`. */
export interface TailCursor {
  regionId: RegionId;
  afterId: number;
}

export interface TailOptions {
  /** How long to wait for a first new entry when there is none yet. */
  blockMs: number;
  /** Entries per region per call, at most. */
  count: number;
}

/**
 * What a follower needs of a region's WAL besides its entries. `resolvedTs`: the leader will commit
 * nothing at or below it that is not among entries up to `resolvedEntryId` (TiKV's resolved ts).
 */
export interface FollowerPosition {
  incarnation: string | undefined;
  lastEntryId: number;
  trimmedEntryId: number;
  resolvedTs: bigint;
  resolvedEntryId: number;
}

/**
 * What a trim keeps for followers (TiKV keeps the Raft log its followers have not matched, up to a
 * limit): entries a follower reported within `staleMs` it has not applied yet, but none at or below
 * `floorId`; a follower that falls behind that reloads from the flushes instead.
 */
export interface WalRetention {
  floorId: number;
  /** The leader's node: its own report (left from when it followed) holds nothing back. */
  leader: string;
  staleMs: number;
}

/** A flush to commit (see LogStore.commitFlush). */
export interface FlushCommit {
  fence: Fence;
  /** The manifest the flush wrote. */
  manifest: string;
  /** The committed manifest the flush was built on; undefined when the region had none. */
  previous: string | undefined;
  uptoId: number;
  retain?: WalRetention;
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
  /**
   * Appends are acknowledged only once replicas have them (Redis WAIT): an entry read back may be on
   * the primary alone until an append after it is acknowledged.
   */
  readonly confirmsOnReplicas: boolean;
  /** Appends entries atomically; returns the id of the last one. Fails with NotLeader when fenced out. */
  append(regionId: RegionId, entries: Buffer[], fence: Fence): Promise<number>;
  /** Entries from `fromId` on, in batches; fails if entries at or after `fromId` were trimmed. */
  read(regionId: RegionId, fromId: number, options?: ReadOptions): AsyncIterable<WalEntry[]>;
  /**
   * The entries after each cursor (up to `count` per region), waiting up to `blockMs` when there are
   * none: one shared read for all of a node's followers, not a connection per region. Regions with
   * nothing new are absent from the result. The first entry of a region may skip ids: what the cursor
   * wanted was trimmed meanwhile.
   */
  tail(cursors: TailCursor[], options: TailOptions): Promise<Map<bigint, WalEntry[]>>;
  followerPositions(regionIds: RegionId[]): Promise<Map<bigint, FollowerPosition>>;
  /**
   * The leader promises to commit nothing more at or below `ts` (fenced like an append, and never
   * moved back): followers that applied the WAL's current end may serve reads at `ts`.
   */
  publishResolvedTs(regionId: RegionId, ts: bigint, fence: Fence): Promise<void>;
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
  /**
   * Commits a flush: names `commit.manifest` the region's committed manifest and drops entries up to
   * and including `commit.uptoId` (the manifest covers them), keeping those `commit.retain` asks for.
   * Fenced like an append (NotLeader once another node holds the fence), and refused (Cancelled) when
   * the committed manifest is no longer `commit.previous`. Returns the id the WAL is trimmed up to.
   */
  commitFlush(regionId: RegionId, commit: FlushCommit): Promise<number>;
  /** The name of the region's committed manifest; undefined before its first commit (or a restore). */
  committedManifest(regionId: RegionId): Promise<string | undefined>;
  /**
   * Records where a node's followers stand (each applied every entry up to its cursor), so their
   * leaders' trims keep what they still need (see WalRetention).
   */
  reportFollowers(nodeId: string, cursors: TailCursor[]): Promise<void>;
  /** Hands the region to a node at an epoch; refuses an older epoch, or another node at the same one. */
  setFence(regionId: RegionId, fence: Fence): Promise<void>;
  fence(regionId: RegionId): Promise<Fence | undefined>;
  /**
   * Deletes the log and its fence for good (the region was dropped, merged away, or an abandoned split's
   * child: no route will name it again): later fences and restores are refused (RegionNotFound) and
   * followers' position reports ignored, so nothing recreates it. With `fence`, only while the WAL's
   * fence is that one (`NotLeader` otherwise): a leader retires its own region and no one else's.
   */
  retire(regionId: RegionId, fence?: Fence): Promise<void>;
  /** Closes what the store opened itself (the followers' blocking connection). */
  close(): Promise<void>;
}

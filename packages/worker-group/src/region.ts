import {
  EpochNotMatchError,
  InvalidArgumentError,
  composeTimestamp,
  type KeyRange,
  type RegionId,
  type Timestamp,
} from '@regionstore/core';
import type { RegionEpoch } from '@regionstore/engine';
import { RecentWrites } from './recent-writes';
import type { Reply } from './reply';
import type { DdlResult, ManifestHook, RegionOptions, RegionRole } from './requests';

/**
 * Whether placement `a` is past `b`: no component behind, one ahead. A job naming `b` for a copy at
 * `a` (a close, a downgrade) was meant for an older placement of the region.
 */
export function newerEpoch(a: RegionEpoch, b: RegionEpoch): boolean {
  return a.version >= b.version && a.confVer >= b.confVer && (a.version > b.version || a.confVer > b.confVer);
}

/**
 * Refuses a split or merge asked of `regionId` at placement `asked.confVer` whose copy here is at
 * `placed`. Behind (a split or merge abandoned meanwhile moved the region on, and the repair has not
 * reopened it yet): not the copy it was asked of, and no retry changes that (InvalidArgument). Ahead,
 * where `movedOn` says to check it (the region was placed again since: its procedure gave up and
 * fenced it on): a stale job (EpochNotMatch).
 */
export function checkAskedPlacement(
  regionId: RegionId,
  placed: number,
  asked: RegionEpoch,
  what: 'split' | 'merge',
  movedOn: boolean,
): void {
  const id = regionId.toString();
  if (placed < asked.confVer)
    throw new InvalidArgumentError(
      `region ${id} is at placement ${placed} here, behind the ${what}'s ${asked.confVer}; ${what} it once it leads at its route's`,
      { regionId: id, placed, requested: asked },
    );
  if (movedOn && placed > asked.confVer)
    throw new EpochNotMatchError(
      `region ${id} is at placement ${placed}; a ${what} asked at ${asked.confVer} is stale`,
      { regionId: id, placed, requested: asked },
    );
}

/** A region open on this node, owned by one worker. */
export class WorkerRegion {
  /** Last WAL entry applied to the engine. */
  lastEntryId: number;
  /**
   * An append failed without saying whether its entries reached the WAL (the connection dropped after
   * the command was sent). The WAL may then hold entries the engine lacks; they are applied before the
   * region takes its next write, or the next append's ids would skip them for good.
   */
  walUncertain = false;
  /**
   * WAL entries up to here are as durable as an acknowledged write: this leader's append after them
   * was acknowledged (where appends wait for replicas, one read back from the primary may not be).
   */
  confirmedEntryId = 0;
  /** Last WAL entry covered by a flushed snapshot. */
  flushedEntryId: number;
  /**
   * The entries this leader's recent flushes covered, oldest first: a trim keeps what lagging followers
   * still need, but never the WAL of more flushes than this remembers (see WalRetention).
   */
  readonly recentFlushes: number[] = [];
  /** Bytes written since the last flush (they live only in the WAL until then). */
  writtenBytes = 0;
  /** Bytes of the files of the region's latest manifest as this node knows them (0: not known here). */
  snapshotBytes = 0;
  /** The highest commit ts applied to the region (persisted in its apply state; see RegionApplyState). */
  maxTs = 0n;
  /** Bytes the running flush will cover. */
  flushingBytes = 0;
  /** Counts truncates: a flush that began before one holds data the truncate dropped. */
  truncates = 0;
  /** The running flush's manifest write, once it started: a truncate lets it land first. */
  manifestWrite: Promise<unknown> | undefined;
  /** Closed on this node: a job of it still running writes nothing (see checkStillLeading). */
  closed = false;
  flushing = false;
  /** A waiter asked for a full flush (a snapshot of the whole region, no deltas). */
  fullFlushWanted = false;
  /** A waiter asked for a delta wherever one is possible (see the flush request's `incremental`). */
  incrementalFlushWanted = false;
  /** Aborts the running flush's snapshot generation (a split makes what it captured obsolete). */
  flushAbort: AbortController | undefined;
  /** Hooks of the flush about to start, and of the one after the running flush (as the waiters). */
  readonly manifestHooks: ManifestHook[] = [];
  readonly nextManifestHooks: ManifestHook[] = [];
  /**
   * Until then (ms) no flush starts on its own: the region split and its flush for the split (whose
   * files the child copies) is about to be asked for; one starting first would make it wait, and a
   * full one would write a snapshot of the parent's half only, which the child cannot copy. Asked-for
   * flushes still run. 0: not held.
   */
  flushesHeldUntilMs = 0;
  /**
   * The child of a split of this region whose first manifest is not known to exist yet: until it does,
   * only the split's own flush may write this region's manifest at the new epoch (a parent flushed
   * without its child leaves a split that can be neither finished nor undone).
   */
  splitChildPending: RegionId | undefined;
  lastFlushMs: number;
  /** Flush requests the running flush answers (they came before it started). */
  readonly flushWaiters: Array<Reply<DdlResult>> = [];
  /**
   * Flush requests that came while a flush ran: the next flush answers them, since the running one
   * may have captured the region before what they wait for (a split's or merge's new range).
   */
  readonly nextFlushWaiters: Array<Reply<DdlResult>> = [];
  readonly compactWaiters: Array<Reply<DdlResult>> = [];
  /** A compaction (MVCC GC, then a RocksDB range compaction) of the region is running. */
  compacting = false;
  /** The safepoint the region's last GC here collected below (0: none yet). */
  gcSafePoint: Timestamp = 0n;
  /**
   * A follower's latest word from its leader (see FollowerPosition): nothing will commit at or below
   * `ts` that is not in the WAL up to `entryId`.
   */
  resolved = { ts: 0n as Timestamp, entryId: 0 };
  /** A follower's distance behind the WAL's end, in entries, when it last looked. */
  lagEntries = 0;
  /** The WAL incarnation the local data follows (a follower reopens when it changes). */
  walIncarnation: string | undefined;
  /**
   * Counts a follower's reloads from the latest flush, twice each (odd while one runs, when its data
   * is incomplete): a read that began and ended at the same even count read one whole copy.
   */
  reloads = 0;

  /** Runs a load of this copy's data (a reload, a catch-up, a promotion), counted as a reload. */
  async reloading<T>(load: () => Promise<T>): Promise<T> {
    this.reloads++;
    try {
      return await load();
    } finally {
      this.reloads++;
    }
  }
  /** Ids of the writes committed lately, for answering re-sent writes (see RecentWrites). */
  recentWrites: RecentWrites;

  constructor(
    readonly regionId: RegionId,
    public range: KeyRange,
    public epoch: RegionEpoch,
    public role: RegionRole,
    public options: RegionOptions,
    lastEntryId: number,
    flushedEntryId: number,
    nowMs: number,
  ) {
    this.lastEntryId = lastEntryId;
    this.flushedEntryId = flushedEntryId;
    this.recentFlushes.push(flushedEntryId);
    this.lastFlushMs = nowMs;
    // Until told what it applied, it knows no write before now.
    this.recentWrites = new RecentWrites(composeTimestamp(Math.floor(nowMs)), lastEntryId, undefined);
  }

  get isWritable(): boolean {
    return this.role === 'Leader';
  }

  /** Whether a flush may start on its own now (none running, leading, not held for a split). */
  mayFlushUnasked(nowMs: number): boolean {
    return !this.flushing && this.isWritable && nowMs >= this.flushesHeldUntilMs;
  }

  /**
   * The highest ts a follower can serve reads at: every write committed at or below it is applied
   * here. WAL entries of a region carry increasing commit timestamps (each leader commits above
   * everything the region holds), so that is the newest applied entry's ts, or the leader's resolved
   * ts once the entries it covers are applied.
   */
  get safeTs(): Timestamp {
    const resolved = this.resolved.entryId <= this.lastEntryId ? this.resolved.ts : 0n;
    return resolved > this.maxTs ? resolved : this.maxTs;
  }

  /**
   * Whether the WAL holds enough unflushed bytes to flush. A flush writes only what changed since the
   * previous one, so the threshold does not grow with the region: Redis holds at most about
   * `minBytes` of unflushed WAL per region, and an open replays no more.
   */
  flushDue(minBytes: number): boolean {
    return this.writtenBytes >= minBytes;
  }

  /**
   * Records a flush up to `walEntryId` and returns the oldest entry a trim may keep for followers:
   * that of the flush `flushes` flushes back (this one when 0).
   */
  retainFloor(walEntryId: number, flushes: number): number {
    this.recentFlushes.push(walEntryId);
    this.recentFlushes.splice(0, Math.max(0, this.recentFlushes.length - flushes - 1));
    return this.recentFlushes[0]!;
  }
}

/** The regions of one worker, by region id. */
export class RegionMap {
  private readonly regions = new Map<bigint, WorkerRegion>();

  get(regionId: RegionId): WorkerRegion | undefined {
    return this.regions.get(regionId.value);
  }

  has(regionId: RegionId): boolean {
    return this.regions.has(regionId.value);
  }

  set(region: WorkerRegion): void {
    this.regions.set(region.regionId.value, region);
  }

  delete(regionId: RegionId): void {
    this.regions.delete(regionId.value);
  }

  list(): WorkerRegion[] {
    return [...this.regions.values()];
  }

  get size(): number {
    return this.regions.size;
  }
}

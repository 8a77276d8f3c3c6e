import { rangeCovers, type KeyRange } from '@regionstore/core';
import type { RegionEpoch } from '@regionstore/engine';
import { deltaBytes, manifestRange, type FlushManifest } from './manifest';

/** The bounds on a region's deltas past which its next flush compacts them into a snapshot. */
export interface CompactionOptions {
  /** Deltas a manifest may name. */
  maxDeltaFiles: number;
  /** The deltas' bytes, as a multiple of the snapshot's. */
  deltaCompactionRatio: number;
}

/** Where the region stands as its next flush begins. */
export interface FlushPoint {
  /** The first WAL entry still held, less one. */
  trimmedEntryId: number;
  /** The WAL entry the flush covers up to. */
  walEntryId: number;
  /** The region's range and epoch as the flush captures them. */
  range: KeyRange;
  epoch: RegionEpoch;
  /** Asked for a delta wherever one is possible. */
  incremental: boolean;
}

/**
 * Whether the next flush of a region with manifest `previous` writes a full snapshot (which is also
 * the compaction of its files) instead of a delta: when asked to, when there is nothing to add a delta
 * to, when the WAL no longer holds what the delta needs, or when the deltas would outgrow their bounds
 * (`maxDeltaFiles` files; `deltaCompactionRatio` × the snapshot's bytes). With ratio r a growing
 * region's snapshots grow by 1 + r each time, so the object store writes at most about 2 + 1/r bytes
 * per byte ingested (the deltas once, the snapshots a geometric series), as long as the ratio decides:
 * the file cap does once the snapshot passes maxDeltaFiles × regionWriteBufferSize / r (64 MiB by
 * default), and from there a full snapshot comes every cap's worth of writes, so the bytes written per
 * byte grow with the region (splits must keep regions near that size).
 */
export function fullFlushDue(previous: FlushManifest, next: FlushPoint, options: CompactionOptions): boolean {
  const { trimmedEntryId, walEntryId, incremental } = next;
  if (!previous.snapshot || trimmedEntryId > previous.walEntryId || walEntryId < previous.walEntryId)
    return true;
  // A merge since: the previous files lack the range taken over. After a split they hold more than the
  // region, which every load leaves out, so the parent goes on with deltas instead of a full flush.
  const flushed = manifestRange(previous);
  if (previous.epoch.version !== next.epoch.version && !(flushed && rangeCovers(flushed, next.range)))
    return true;
  if (incremental) return false;
  // A split child's copies of its parent's files, named by the parent's WAL entries: replaced soon.
  if (previous.inheritedFrom) return true;
  return (
    previous.deltas.length >= options.maxDeltaFiles ||
    deltaBytes(previous) >= options.deltaCompactionRatio * previous.size
  );
}

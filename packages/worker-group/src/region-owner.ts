import type { KeyRange, RegionId } from '@regionstore/core';
import type { RegionMap, WorkerRegion } from './region';

/** What the DDL and background handlers need of the worker that owns the regions. */
export interface RegionOwner {
  readonly id: number;
  readonly regions: RegionMap;
  /** Regions being opened (not yet in `regions`), with the range each is opened at. */
  readonly openingRegions: Map<bigint, KeyRange>;
  addRegion(region: WorkerRegion): void;
  /**
   * Forgets the region, frees its write-buffer share, fails writes stalled on it and the waiters of
   * its flushes and compactions (with `reason`, RegionNotFound by default).
   */
  removeRegion(region: WorkerRegion, reason?: Error): void;
  /** The open region, or RegionNotFound. */
  requireRegion(regionId: RegionId): WorkerRegion;
}

import type { RegionId } from '@regionstore/core';
import {
  PhiAccrualFailureDetector,
  type PhiAccrualFailureDetectorOptions,
} from './phi-accrual-failure-detector';

/** A region as seen on one node: the unit the supervisor watches. */
export interface DetectingRegion {
  nodeId: string;
  regionId: RegionId;
}

export interface DetectorEntry {
  readonly ident: DetectingRegion;
  readonly detector: PhiAccrualFailureDetector;
}

function keyOf(ident: DetectingRegion): string {
  return `${ident.nodeId}/${ident.regionId.toString()}`;
}

/** One phi detector per (node, region). */
export class RegionFailureDetector {
  private readonly entries = new Map<string, DetectorEntry>();

  constructor(readonly options: Partial<PhiAccrualFailureDetectorOptions> = {}) {}

  /** Creates the detector with a first heartbeat at `tsMillis` unless one exists; returns it either way. */
  maybeInitRegionFailureDetector(ident: DetectingRegion, tsMillis: number): PhiAccrualFailureDetector {
    const existing = this.entries.get(keyOf(ident));
    if (existing) return existing.detector;
    const detector = new PhiAccrualFailureDetector(this.options);
    detector.heartbeat(tsMillis);
    this.entries.set(keyOf(ident), { ident, detector });
    return detector;
  }

  /** The detector for `ident`, created (without heartbeats) if missing. */
  regionFailureDetector(ident: DetectingRegion): PhiAccrualFailureDetector {
    const existing = this.entries.get(keyOf(ident));
    if (existing) return existing.detector;
    const detector = new PhiAccrualFailureDetector(this.options);
    this.entries.set(keyOf(ident), { ident, detector });
    return detector;
  }

  remove(ident: DetectingRegion): void {
    this.entries.delete(keyOf(ident));
  }

  clear(): void {
    this.entries.clear();
  }

  contains(ident: DetectingRegion): boolean {
    return this.entries.has(keyOf(ident));
  }

  get len(): number {
    return this.entries.size;
  }

  isEmpty(): boolean {
    return this.entries.size === 0;
  }

  /** A deep copy, so a caller can inspect it while the supervisor keeps updating the original. */
  dump(): RegionFailureDetector {
    const copy = new RegionFailureDetector(this.options);
    for (const [key, entry] of this.entries)
      copy.entries.set(key, { ident: entry.ident, detector: entry.detector.clone() });
    return copy;
  }

  [Symbol.iterator](): IterableIterator<DetectorEntry> {
    return this.entries.values();
  }
}

import { compareKeys, rangesOverlap, subtractRanges, type KeyRange } from '@regionstore/core';

/** A region's range and epoch version as its latest manifest (or its surviving route) has them. */
export interface RangeClaim {
  regionId: string;
  range: KeyRange;
  version: number;
}

export type RangeVerdict =
  /** Recovered over `range`, its claim less what newer regions hold, at `version`. */
  | { kind: 'kept'; range: KeyRange; version: number; clippedBy: string[] }
  /** Newer regions hold all of it (a merge's source, a split's parent whose child took everything). */
  | { kind: 'covered'; by: string[] }
  /** Newer regions hold its middle: what is left is two ranges, which no one region can be. */
  | { kind: 'torn'; by: string[] };

/**
 * Where claims overlap (Redis lost the metadata in the middle of a split or merge: the child's or the
 * merged target's manifest is written while the parent's or the source's still names the old range),
 * the newer epoch version keeps the overlap, as PD keeps the newer of two overlapping region reports;
 * ties go to the region id first in order. A region clipped this way takes the newest version it
 * was clipped by, as a finished split would have given it.
 */
export function resolveRangeClaims(claims: readonly RangeClaim[]): Map<string, RangeVerdict> {
  const ordered = [...claims].sort(
    (a, b) => b.version - a.version || compareKeys(Buffer.from(a.regionId), Buffer.from(b.regionId)),
  );
  const kept: RangeClaim[] = [];
  const verdicts = new Map<string, RangeVerdict>();
  for (const claim of ordered) {
    const newer = kept.filter((k) => rangesOverlap(k.range, claim.range));
    const by = newer.map((k) => k.regionId);
    const left = subtractRanges(
      claim.range,
      newer.map((k) => k.range),
    );
    if (left.length === 0) {
      verdicts.set(claim.regionId, { kind: 'covered', by });
    } else if (left.length > 1) {
      verdicts.set(claim.regionId, { kind: 'torn', by });
    } else {
      const version = Math.max(claim.version, ...newer.map((k) => k.version));
      kept.push({ regionId: claim.regionId, range: left[0]!, version });
      verdicts.set(claim.regionId, { kind: 'kept', range: left[0]!, version, clippedBy: by });
    }
  }
  return verdicts;
}

import { rangesOverlap, subtractRanges, type KeyRange, type RegionId } from '@regionstore/core';

/** A region's range and epoch version as its route (or, without one, its latest manifest) has them. */
export interface RangeClaim {
  regionId: RegionId;
  range: KeyRange;
  version: number;
}

export type RangeVerdict =
  /** Recovered over `range`: its claim less what newer regions hold. */
  | { kind: 'kept'; range: KeyRange; clippedBy: RegionId[] }
  /** Newer regions hold all of it (a merge's source, a split's parent whose child took everything). */
  | { kind: 'covered'; by: RegionId[] }
  /** Newer regions hold its middle: what is left is two ranges, which no one region can be. */
  | { kind: 'torn'; by: RegionId[] };

/**
 * Where claims overlap (Redis lost the metadata in the middle of a split or merge: the child's or the
 * merged target's manifest is written while the parent's or the source's still names the old range),
 * the newer epoch version keeps the overlap, as PD keeps the newer of two overlapping region reports;
 * ties go to the smaller region id. Verdicts by region id value.
 */
export function resolveRangeClaims(claims: readonly RangeClaim[]): Map<bigint, RangeVerdict> {
  const ordered = [...claims].sort(
    (a, b) => b.version - a.version || (a.regionId.value < b.regionId.value ? -1 : 1),
  );
  const kept: RangeClaim[] = [];
  const verdicts = new Map<bigint, RangeVerdict>();
  for (const claim of ordered) {
    const newer = kept.filter((k) => rangesOverlap(k.range, claim.range));
    const by = newer.map((k) => k.regionId);
    const left = subtractRanges(
      claim.range,
      newer.map((k) => k.range),
    );
    const id = claim.regionId.value;
    if (left.length === 0) {
      verdicts.set(id, { kind: 'covered', by });
    } else if (left.length > 1) {
      verdicts.set(id, { kind: 'torn', by });
    } else {
      kept.push({ ...claim, range: left[0]! });
      verdicts.set(id, { kind: 'kept', range: left[0]!, clippedBy: by });
    }
  }
  return verdicts;
}

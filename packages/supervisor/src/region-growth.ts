/** A region that fell under this share of its size shrank by a split (or a merge moved its data). */
const SHRUNK = 0.75;
/** Sizes further apart than this give a growth rate (closer ones are mostly the estimate's noise). */
const WINDOW_MS = 10_000;

/**
 * How fast each region grows, from the sizes its leader reports in heartbeats: the bytes gained over
 * the last window of at least WINDOW_MS, per second. A region's rate is known once two reports
 * WINDOW_MS apart came in. A region that lost a quarter of its size or more (a split halved it)
 * starts over from its new size, its rate unknown until the next window: a hot region that just
 * split is still hot. Smaller drops (compaction dropping versions, the estimate's noise) count as 0.
 */
export class RegionGrowth {
  private readonly regions = new Map<bigint, { bytes: number; atMs: number; bytesPerSec?: number }>();

  record(regionId: bigint, bytes: number, atMs: number): void {
    const known = this.regions.get(regionId);
    if (!known || bytes < known.bytes * SHRUNK) {
      this.regions.set(regionId, { bytes, atMs });
      return;
    }
    const elapsedMs = atMs - known.atMs;
    if (elapsedMs < WINDOW_MS) return;
    const bytesPerSec = (Math.max(0, bytes - known.bytes) * 1000) / elapsedMs;
    this.regions.set(regionId, { bytes, atMs, bytesPerSec });
  }

  /** The last known rate of each of `regionIds` that has one. */
  rates(regionIds: Iterable<bigint>): Map<bigint, number> {
    const rates = new Map<bigint, number>();
    for (const id of regionIds) {
      const rate = this.regions.get(id)?.bytesPerSec;
      if (rate !== undefined) rates.set(id, rate);
    }
    return rates;
  }

  /** Forgets regions no longer reported. */
  retain(regionIds: ReadonlySet<bigint>): void {
    for (const id of this.regions.keys()) if (!regionIds.has(id)) this.regions.delete(id);
  }
}

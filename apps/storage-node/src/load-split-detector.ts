import { compareKeys, type RegionId } from '@regionstore/core';

export interface LoadSplitOptions {
  /** A region is hot in a second with at least this many requests (TiKV's qps-threshold, 3000)... */
  qpsThreshold: number;
  /** ...or this many key and value bytes (TiKV's byte-threshold). */
  byteThreshold: number;
  /** Consecutive hot seconds before a split key is proposed (TiKV's detect-times, 10). */
  detectTimes: number;
  /** Requests sampled per region per second, uniformly (a reservoir). */
  sampleSize?: number;
  /** Split keys tried per second, spread over the sorted samples (TiKV's sample-num, 20). */
  candidates?: number;
  /** The most a split may leave one side over the other, as a share of the load (TiKV's 0.25). */
  balanceScore?: number;
}

/** Why a hot second gave no split key. */
export type NoSplitReason = 'unbalanced' | 'sequential';

interface Sample {
  key: Buffer;
  /** Arrival order within the second. */
  seq: number;
}

interface RegionLoad {
  /** The region's epoch version when last asked for a proposal: a split or merge starts it over. */
  epochVersion?: number;
  requests: number;
  bytes: number;
  samples: Sample[];
  /** Hot seconds in a row, up to the last one closed. */
  hotStreak: number;
  proposal: Buffer | undefined;
}

/** What the last closed second decided for a hot region. */
export type LoadVerdict = { splitKey: Buffer } | { skipped: NoSplitReason };

/**
 * TiKV's load-based split, on the leader: every request is counted against its region, and a
 * uniform sample of their keys kept, one second at a time. After `detectTimes` hot seconds in a row
 * the region proposes a split key chosen from the samples, one that leaves about as many requests on
 * each side, and the heartbeat carries it to the metasrv, which splits there. Not where the load sits
 * on one key (nothing would balance it), nor where the requests walk along the key space, as
 * ordered inserts do: each half would take the load in turn, and splitting again and again would only
 * leave small regions behind (tikv#9785).
 */
export class LoadSplitDetector {
  private readonly regions = new Map<bigint, RegionLoad>();
  private readonly sampleSize: number;
  private readonly candidates: number;
  private readonly balanceScore: number;
  private windowStartMs: number;
  private random: () => number;

  constructor(
    private readonly options: LoadSplitOptions,
    nowMs: number,
    random: () => number = Math.random,
  ) {
    this.sampleSize = options.sampleSize ?? 256;
    this.candidates = options.candidates ?? 20;
    this.balanceScore = options.balanceScore ?? 0.25;
    this.windowStartMs = nowMs;
    this.random = random;
  }

  /** One request to `regionId` (a command alone or a region's part of a batch). */
  record(regionId: RegionId, key: Buffer, bytes: number): void {
    let load = this.regions.get(regionId.value);
    if (!load) {
      load = { requests: 0, bytes: 0, samples: [], hotStreak: 0, proposal: undefined };
      this.regions.set(regionId.value, load);
    }
    const seq = load.requests++;
    load.bytes += bytes;
    // A copy: the key may be a view into a whole request body, which a sample must not keep alive.
    if (load.samples.length < this.sampleSize) load.samples.push({ key: Buffer.from(key), seq });
    else {
      const slot = Math.floor(this.random() * load.requests);
      if (slot < this.sampleSize) load.samples[slot] = { key: Buffer.from(key), seq };
    }
  }

  /**
   * Closes the second that began at the last close (or construction): each region's streak goes on
   * or ends, and a region hot for `detectTimes` seconds gets this second's split key as its proposal.
   * Returns what each hot region's second decided.
   */
  close(nowMs: number): Map<bigint, LoadVerdict> {
    const seconds = Math.max(nowMs - this.windowStartMs, 1) / 1000;
    this.windowStartMs = nowMs;
    const verdicts = new Map<bigint, LoadVerdict>();
    for (const [id, load] of this.regions) {
      const hot =
        load.requests / seconds >= this.options.qpsThreshold ||
        load.bytes / seconds >= this.options.byteThreshold;
      if (!hot) {
        // A cold second with nothing pending ends the region's entry (closed or moved regions go too).
        if (load.requests === 0) this.regions.delete(id);
        else Object.assign(load, { requests: 0, bytes: 0, samples: [], hotStreak: 0, proposal: undefined });
        continue;
      }
      const verdict = this.splitKeyOf(load.samples);
      verdicts.set(id, verdict);
      load.hotStreak += 1;
      load.proposal =
        'splitKey' in verdict && load.hotStreak >= this.options.detectTimes ? verdict.splitKey : undefined;
      Object.assign(load, { requests: 0, bytes: 0, samples: [] });
    }
    return verdicts;
  }

  /**
   * The split key `regionId` (at `epochVersion`) proposes, once it has been hot long enough. A region
   * whose epoch version changed since the last call (it split, or took a neighbour in) starts over:
   * its streak counted load on the range it had.
   */
  proposal(regionId: RegionId, epochVersion: number): Buffer | undefined {
    const load = this.regions.get(regionId.value);
    if (!load) return undefined;
    if (load.epochVersion !== undefined && load.epochVersion !== epochVersion)
      Object.assign(load, { hotStreak: 0, proposal: undefined });
    load.epochVersion = epochVersion;
    return load.proposal;
  }

  /** Starts `regionId` over (its range changed: a proposal for the old one means nothing). */
  reset(regionId: RegionId): void {
    this.regions.delete(regionId.value);
  }

  /** The sampled key that best halves the sampled requests, unless none does or the load walks. */
  private splitKeyOf(samples: Sample[]): LoadVerdict {
    const sorted = samples.map((s) => s.key).sort(compareKeys);
    const n = sorted.length;
    let best: { key: Buffer; score: number } | undefined;
    for (let c = 1; c <= this.candidates; c++) {
      const key = sorted[Math.min(n - 1, Math.floor((c * n) / (this.candidates + 1)))];
      if (!key) continue;
      // Requests left of the key; the key itself starts the right half.
      const left = lowerBound(sorted, key);
      const score = Math.abs(n - 2 * left) / n;
      if (!best || score < best.score) best = { key, score };
    }
    if (!best || best.score > this.balanceScore) return { skipped: 'unbalanced' };
    if (walks(samples, best.key)) return { skipped: 'sequential' };
    return { splitKey: best.key };
  }
}

/** How many of `sorted` are below `key`. */
function lowerBound(sorted: Buffer[], key: Buffer): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareKeys(sorted[mid]!, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Whether the load moved from one side of `key` to the other within the second: nearly all of the
 * first quarter of the requests on one side and nearly all of the last quarter on the other.
 */
function walks(samples: Sample[], key: Buffer): boolean {
  const byArrival = [...samples].sort((a, b) => a.seq - b.seq);
  const quarter = Math.max(1, Math.floor(byArrival.length / 4));
  const rightShare = (part: Sample[]) =>
    part.filter((s) => compareKeys(s.key, key) >= 0).length / part.length;
  const first = rightShare(byArrival.slice(0, quarter));
  const last = rightShare(byArrival.slice(-quarter));
  return (first <= 0.1 && last >= 0.9) || (first >= 0.9 && last <= 0.1);
}

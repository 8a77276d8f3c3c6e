import { RegionId, isRegionStoreError, type TimeProvider } from '@regionstore/core';
import type { Logger, Registry } from '@regionstore/runtime';
import type { RegionSplitTask } from './migration-manager';
import { PeriodicChecker } from './periodic';

export interface SplitCheckerDeps {
  /** Each region's approximate size in bytes, as its leader last reported it. */
  sizes: () => ReadonlyMap<bigint, number>;
  /** Each region's estimated MVCC versions, where its leader reports them. */
  keys?: () => ReadonlyMap<bigint, number>;
  /** Split keys leaders propose for their hot regions (load-based split), if any. */
  loadSplitKeys?: () => ReadonlyMap<bigint, Buffer>;
  splits: { startSplit(task: RegionSplitTask): Promise<string>; isMigrating(regionId: RegionId): boolean };
  maintenance: { isEnabled(): Promise<boolean> };
  /** A region past this is split near the middle of its data. */
  maxSizeBytes: number;
  /** So is one with more versions than this (TiKV's region-max-keys); no limit without it. */
  maxKeys?: number;
  intervalMs: number;
  /** Each split's deadline (see RegionSplitProcedure). */
  splitTimeoutMs: number;
  /**
   * A region this checker split is not picked again for this long (default 60 s): one that cannot
   * split (a single huge key; a procedure that aborts) must not take every round from the others,
   * while one still too big after its split goes again a minute later.
   */
  retryAfterMs?: number;
  time?: TimeProvider;
  logger?: Logger;
  metrics?: Registry;
}

/**
 * TiKV's size and keys split checkers, run by the metasrv leader from the sizes and version counts
 * leaders report in their heartbeats: every interval, the region furthest past `maxSizeBytes` or
 * `maxKeys` (as a share of the limit) that no procedure holds is split near its middle, one per round (a split writes both halves whole to the object store, so a storm of
 * them would crowd out everything else; tikv#13154). A round with none to split by size splits a hot
 * region at the key its leader proposes (load-based split).
 */
export class SplitChecker extends PeriodicChecker<'started' | 'none' | 'maintenance' | 'busy'> {
  /** When this checker last started a split of each region. */
  private readonly lastSplitMs = new Map<bigint, number>();

  constructor(private readonly deps: SplitCheckerDeps) {
    super(deps, 'split_checks', 'Split check rounds, by result (started, none, maintenance, busy)');
  }

  /** One round: the region it started splitting, or why none. */
  async tick(): Promise<string | 'none' | 'maintenance' | 'busy'> {
    if (await this.deps.maintenance.isEnabled()) return this.count('maintenance');
    const now = this.time.now();
    const retryAfterMs = this.deps.retryAfterMs ?? 60_000;
    for (const [id, at] of this.lastSplitMs) if (now - at >= retryAfterMs) this.lastSplitMs.delete(id);
    const candidate = (regionId: RegionId) =>
      !this.deps.splits.isMigrating(regionId) && !this.lastSplitMs.has(regionId.value);
    const { maxSizeBytes, maxKeys } = this.deps;
    const keys = this.deps.keys?.() ?? new Map<bigint, number>();
    const oversized = [...this.deps.sizes()]
      .map(([value, bytes]) => {
        const versions = keys.get(value) ?? 0;
        const bySize = bytes / maxSizeBytes;
        const byKeys = maxKeys ? versions / maxKeys : 0;
        const over = Math.max(bySize, byKeys);
        return { regionId: RegionId.fromBigInt(value), bytes, keys: versions, over, byKeys: byKeys > bySize };
      })
      .filter((r) => r.over > 1 && candidate(r.regionId))
      .sort((a, b) => b.over - a.over);
    const largest = oversized[0];
    if (largest) {
      const reason = largest.byKeys ? 'keys' : 'size';
      if (!(await this.split({ regionId: largest.regionId, reason }))) return this.count('busy');
      this.logger.info(
        {
          regionId: largest.regionId.toString(),
          bytes: largest.bytes,
          keys: largest.keys,
          maxSizeBytes,
          ...(maxKeys ? { maxKeys } : {}),
        },
        `region past the split ${reason === 'keys' ? 'key count' : 'size'}; splitting it`,
      );
      this.count('started');
      return largest.regionId.toString();
    }
    const hot = [...(this.deps.loadSplitKeys?.() ?? [])]
      .map(([value, splitKey]) => ({ regionId: RegionId.fromBigInt(value), splitKey }))
      .find((r) => candidate(r.regionId));
    if (!hot) return this.count('none');
    if (!(await this.split({ ...hot, reason: 'load' }))) return this.count('busy');
    this.logger.info(
      { regionId: hot.regionId.toString(), splitKey: hot.splitKey.toString('base64') },
      'region hot for long enough; splitting it at the key its leader proposes',
    );
    this.count('started');
    return hot.regionId.toString();
  }

  /** Starts a split; false when another procedure holds the region. */
  private async split(task: { regionId: RegionId; reason: string; splitKey?: Buffer }): Promise<boolean> {
    try {
      await this.deps.splits.startSplit({ ...task, timeoutMs: this.deps.splitTimeoutMs });
      this.lastSplitMs.set(task.regionId.value, this.time.now());
      return true;
    } catch (err) {
      if (isRegionStoreError(err, 'MigrationRunning')) return false;
      throw err;
    }
  }
}

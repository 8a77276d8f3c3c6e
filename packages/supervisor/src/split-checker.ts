import { RegionId, isRegionStoreError, type TimeProvider } from '@regionstore/core';
import type { Logger, Registry } from '@regionstore/runtime';
import type { RegionSplitTask } from './migration-manager';
import { PeriodicChecker } from './periodic';

export interface SplitCheckerDeps {
  /** Each region's approximate size in bytes, as its leader last reported it. */
  sizes: () => ReadonlyMap<bigint, number>;
  splits: { startSplit(task: RegionSplitTask): Promise<string>; isMigrating(regionId: RegionId): boolean };
  maintenance: { isEnabled(): Promise<boolean> };
  /** A region past this is split near the middle of its data. */
  maxSizeBytes: number;
  intervalMs: number;
  /** Each split's deadline (see RegionSplitProcedure). */
  splitTimeoutMs: number;
  time?: TimeProvider;
  logger?: Logger;
  metrics?: Registry;
}

/**
 * TiKV's size split checker, run by the metasrv leader from the sizes leaders report in their
 * heartbeats: every interval, the largest region past `maxSizeBytes` that no procedure holds is split
 * near its middle, one per round (a split writes both halves whole to the object store, so a storm of
 * them would crowd out everything else; tikv#13154).
 */
export class SplitChecker extends PeriodicChecker<'started' | 'none' | 'maintenance' | 'busy'> {
  constructor(private readonly deps: SplitCheckerDeps) {
    super(deps, 'split_checks', 'Split check rounds, by result (started, none, maintenance, busy)');
  }

  /** One round: the region it started splitting, or why none. */
  async tick(): Promise<string | 'none' | 'maintenance' | 'busy'> {
    if (await this.deps.maintenance.isEnabled()) return this.count('maintenance');
    const oversized = [...this.deps.sizes()]
      .filter(([, bytes]) => bytes > this.deps.maxSizeBytes)
      .map(([value, bytes]) => ({ regionId: RegionId.fromBigInt(value), bytes }))
      .filter((r) => !this.deps.splits.isMigrating(r.regionId))
      .sort((a, b) => b.bytes - a.bytes);
    const largest = oversized[0];
    if (!largest) return this.count('none');
    try {
      await this.deps.splits.startSplit({
        regionId: largest.regionId,
        reason: 'size',
        timeoutMs: this.deps.splitTimeoutMs,
      });
    } catch (err) {
      if (isRegionStoreError(err, 'MigrationRunning')) return this.count('busy');
      throw err;
    }
    this.logger.info(
      { region: largest.regionId.toString(), bytes: largest.bytes, maxSizeBytes: this.deps.maxSizeBytes },
      'region past the split size; splitting it',
    );
    this.count('started');
    return largest.regionId.toString();
  }
}

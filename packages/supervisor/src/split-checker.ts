import { RegionId, isRegionStoreError, type TimeProvider } from '@regionstore/core';
import type { Logger, Registry } from '@regionstore/runtime';
import type { RegionSplitTask } from './migration-manager';
import { PeriodicChecker } from './periodic';

export interface SplitCheckerDeps {
  /** Each region's approximate size in bytes, as its leader last reported it. */
  sizes: () => ReadonlyMap<bigint, number>;
  /** Split keys leaders propose for their hot regions (load-based split), if any. */
  loadSplitKeys?: () => ReadonlyMap<bigint, Buffer>;
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
 * them would crowd out everything else; tikv#13154). A round with none to split by size splits a hot
 * region at the key its leader proposes (load-based split).
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
    if (largest) {
      if (!(await this.split({ regionId: largest.regionId, reason: 'size' }))) return this.count('busy');
      this.logger.info(
        { regionId: largest.regionId.toString(), bytes: largest.bytes, maxSizeBytes: this.deps.maxSizeBytes },
        'region past the split size; splitting it',
      );
      this.count('started');
      return largest.regionId.toString();
    }
    const hot = [...(this.deps.loadSplitKeys?.() ?? [])]
      .map(([value, splitKey]) => ({ regionId: RegionId.fromBigInt(value), splitKey }))
      .find((r) => !this.deps.splits.isMigrating(r.regionId));
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
      return true;
    } catch (err) {
      if (isRegionStoreError(err, 'MigrationRunning')) return false;
      throw err;
    }
  }
}

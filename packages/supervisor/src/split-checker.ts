import { RealTimeProvider, RegionId, isRegionStoreError, type TimeProvider } from '@regionstore/core';
import {
  counter,
  createMetricsRegistry,
  silentLogger,
  type Counter,
  type Logger,
  type Registry,
} from '@regionstore/runtime';
import type { RegionSplitTask } from './migration-manager';
import { PeriodicRounds } from './periodic';

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
export class SplitChecker {
  private readonly rounds: PeriodicRounds;
  private readonly logger: Logger;
  private readonly started: Counter<'result'>;

  constructor(private readonly deps: SplitCheckerDeps) {
    const time = deps.time ?? new RealTimeProvider();
    this.logger = deps.logger ?? silentLogger();
    this.rounds = new PeriodicRounds(
      time,
      deps.intervalMs,
      () => this.tick(),
      (err) => this.logger.warn({ err }, 'split check failed'),
    );
    this.started = counter(deps.metrics ?? createMetricsRegistry({ defaultMetrics: false }), {
      component: 'supervisor',
      what: 'split_checks',
      unit: 'total',
      help: 'Split check rounds, by result (started, none, maintenance, busy)',
      labelNames: ['result'],
    });
  }

  start(delayMs?: number): void {
    this.rounds.start(delayMs);
  }

  stop(): void {
    this.rounds.stop();
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
    this.started.inc({ result: 'started' });
    return largest.regionId.toString();
  }

  private count<R extends 'none' | 'maintenance' | 'busy'>(result: R): R {
    this.started.inc({ result });
    return result;
  }
}

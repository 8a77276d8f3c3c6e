import { RealTimeProvider, isRegionStoreError, type TimeProvider } from '@regionstore/core';
import {
  counter,
  createMetricsRegistry,
  silentLogger,
  type Counter,
  type Logger,
  type Registry,
} from '@regionstore/runtime';
import type { RegionMigrationSubmitter } from './migration-submitter';
import type { RegionRoute } from './migration-ports';
import { PeriodicRounds } from './periodic';
import type { NodeCandidate } from './selector';

export interface BalanceSchedulerDeps {
  /** Every known node with the regions it leads. */
  candidates: () => Promise<NodeCandidate[]>;
  routes: () => Promise<RegionRoute[]>;
  migrations: RegionMigrationSubmitter & { readonly runningCount: number };
  maintenance: { isEnabled(): Promise<boolean> };
  /** One move at most per interval. */
  intervalMs: number;
  /** Each move's migration deadline. */
  migrationTimeoutMs: number;
  time?: TimeProvider;
  logger?: Logger;
  metrics?: Registry;
}

/** What one balance round did, and why. */
export type BalanceDecision =
  | { moved: string; from: string; to: string }
  | { skipped: 'maintenance' | 'migrating' | 'failover-pending' | 'balanced' };

/**
 * PD's balance-region scheduler, for regions with one leader each: while the alive nodes' region
 * counts differ by more than one, moves one region from the node with the most to the node with the
 * fewest, one move per interval, through the same migration procedure as failovers. It leaves the
 * cluster alone in maintenance mode, while any migration runs (a failover goes first), and while a
 * dead node still leads regions (their failover is pending).
 */
export class BalanceScheduler {
  private readonly time: TimeProvider;
  private readonly logger: Logger;
  private readonly moves: Counter<'result'>;
  private readonly rounds: PeriodicRounds;

  constructor(private readonly deps: BalanceSchedulerDeps) {
    this.time = deps.time ?? new RealTimeProvider();
    this.rounds = new PeriodicRounds(
      this.time,
      deps.intervalMs,
      () => this.tick(),
      (err) => this.logger.warn({ err }, 'balance round failed'),
    );
    this.logger = deps.logger ?? silentLogger();
    this.moves = counter(deps.metrics ?? createMetricsRegistry({ defaultMetrics: false }), {
      component: 'supervisor',
      what: 'balance_rounds',
      unit: 'total',
      help: 'Balance rounds by result: moved (a migration started), or why nothing moved',
      labelNames: ['result'],
    });
  }

  async tick(): Promise<BalanceDecision> {
    const decision = await this.decide();
    this.moves.inc({ result: 'moved' in decision ? 'moved' : decision.skipped });
    if ('moved' in decision) this.logger.info(decision, 'balancing: moving a region');
    return decision;
  }

  private async decide(): Promise<BalanceDecision> {
    if (await this.deps.maintenance.isEnabled()) return { skipped: 'maintenance' };
    if (this.deps.migrations.runningCount > 0) return { skipped: 'migrating' };
    const nodes = await this.deps.candidates();
    if (nodes.some((n) => !n.alive && n.regionCount > 0)) return { skipped: 'failover-pending' };
    const alive = nodes
      .filter((n) => n.alive)
      .sort((a, b) => a.regionCount - b.regionCount || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const least = alive[0];
    const most = alive.at(-1);
    if (!least || !most || most.regionCount - least.regionCount <= 1) return { skipped: 'balanced' };
    const movable = (await this.deps.routes()).filter(
      (r) => r.leader === most.id && r.state === 'Normal' && !this.deps.migrations.isMigrating(r.regionId),
    );
    // One with a follower there already moves without loading anything.
    const region = movable.find((r) => r.followers?.includes(least.id)) ?? movable[0];
    if (!region) return { skipped: 'migrating' };
    try {
      await this.deps.migrations.submit({
        regionId: region.regionId,
        fromPeer: { id: most.id, address: most.address },
        toPeer: { id: least.id, address: least.address },
        timeoutMs: this.deps.migrationTimeoutMs,
      });
    } catch (err) {
      // Something else started moving it meanwhile, or it is gone: try again next round.
      if (isRegionStoreError(err, 'MigrationRunning') || isRegionStoreError(err, 'TableRouteNotFound'))
        return { skipped: 'migrating' };
      throw err;
    }
    return { moved: region.regionId.toString(), from: most.id, to: least.id };
  }

  /**
   * Runs a round every interval, the first after `delayMs`, until `stop` (the metasrv leader does; a
   * standby does not).
   */
  start(delayMs = this.deps.intervalMs): void {
    this.rounds.start(delayMs);
  }

  stop(): void {
    this.rounds.stop();
  }
}

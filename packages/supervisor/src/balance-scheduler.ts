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
import { takesRegions, type NodeCandidate } from './selector';

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
  /**
   * Each region's approximate size as its leader last reported it; with it, once region counts are
   * even, regions also move to even out the bytes each node leads (see `sizeBalance`).
   */
  sizes?: () => ReadonlyMap<bigint, number>;
  /** How fast each region grew lately, in bytes per second (see RegionGrowth). */
  growth?: () => ReadonlyMap<bigint, number>;
  /**
   * Bytes are balanced while the node leading the most leads no more than `ratio` times the bytes of
   * the node leading the least, or no more than `minDiffBytes` more (PD's tolerance against moves
   * that buy nothing). A region growing by `hotBytesPerSec` or more is not moved for bytes.
   */
  sizeBalance?: SizeBalance;
  time?: TimeProvider;
  logger?: Logger;
  metrics?: Registry;
}

/** What one balance round did, and why. */
export type BalanceDecision =
  | { moved: string; from: string; to: string; by: 'drain' | 'count' | 'size' }
  | { skipped: 'maintenance' | 'migrating' | 'failover-pending' | 'balanced' };

export interface SizeBalance {
  ratio: number;
  minDiffBytes: number;
  hotBytesPerSec?: number;
}

const DEFAULT_SIZE_BALANCE: SizeBalance = { ratio: 1.25, minDiffBytes: 64 * 1024 * 1024 };
const DEFAULT_HOT_BYTES_PER_SEC = 1024 * 1024;

/**
 * PD's balance-region scheduler, for regions with one leader each: while the alive nodes' region
 * counts differ by more than one, moves one region from the node with the most to the node with the
 * fewest; once they are even, moves a region from the node leading the most bytes to the one leading
 * the fewest, if that keeps counts even and the gap is past the tolerance (a region no bigger than
 * half the gap, so the two never swap places and the next round does not move it back). One move per
 * interval, through the same migration procedure as failovers. Moves for bytes leave regions that
 * grow fast alone, and moves for counts take the slowest-growing region they can: a region taking
 * writes faster than its copy can catch up keeps the move going (its new copy chases its WAL) and
 * cannot split meanwhile, so it grows past the split size (PD keeps hot regions out of
 * balance-region and moves them with a scheduler of their own). Before any of that, a region led by a
 * drained node moves off it (see `NodeCandidate.drained`). It leaves the cluster alone in
 * maintenance mode, while any migration runs (a failover goes first), and while a dead node still
 * leads regions (their failover is pending).
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
      .filter(takesRegions)
      .sort((a, b) => a.regionCount - b.regionCount || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const least = alive[0];
    const most = alive.at(-1);
    if (!least || !most) return { skipped: 'balanced' };
    const routes = await this.deps.routes();
    const movable = (from: string) =>
      routes.filter(
        (r) => r.leader === from && r.state === 'Normal' && !this.deps.migrations.isMigrating(r.regionId),
      );
    // A drained node's regions go first, each to its follower's node where that takes regions (a
    // promotion, nothing to load), else to the node leading the fewest.
    for (const drained of nodes.filter((n) => n.alive && n.drained)) {
      const region = movable(drained.id)[0];
      if (!region) continue;
      const to = alive.find((n) => region.followers?.includes(n.id)) ?? least;
      return this.move(region, drained, to, 'drain');
    }
    if (most.regionCount - least.regionCount > 1) {
      const growth = this.deps.growth?.() ?? new Map<bigint, number>();
      // Not known yet: a new region, often a split's hot child, goes last.
      const rate = (r: RegionRoute) => growth.get(r.regionId.value) ?? Infinity;
      // One with a follower there already moves without loading anything; else the one growing slowest.
      const fromMost = movable(most.id).sort((a, b) => rate(a) - rate(b));
      const region = fromMost.find((r) => r.followers?.includes(least.id)) ?? fromMost[0];
      if (!region) return { skipped: 'migrating' };
      return this.move(region, most, least, 'count');
    }
    const bySize = this.bySize(alive, routes, movable);
    return bySize ? this.move(bySize.region, bySize.from, bySize.to, 'size') : { skipped: 'balanced' };
  }

  /** A move that evens out the bytes nodes lead without unevening their region counts, if one is due. */
  private bySize(
    alive: NodeCandidate[],
    routes: RegionRoute[],
    movable: (from: string) => RegionRoute[],
  ): { region: RegionRoute; from: NodeCandidate; to: NodeCandidate } | undefined {
    const sizes = this.deps.sizes?.();
    if (!sizes || alive.length < 2) return undefined;
    const {
      ratio,
      minDiffBytes,
      hotBytesPerSec = DEFAULT_HOT_BYTES_PER_SEC,
    } = this.deps.sizeBalance ?? DEFAULT_SIZE_BALANCE;
    // A region whose growth is not known yet (new: often a split's hot child) waits until it is.
    const growth = this.deps.growth?.();
    const cold = (r: RegionRoute) => !growth || (growth.get(r.regionId.value) ?? Infinity) < hotBytesPerSec;
    const bytes = new Map(alive.map((n) => [n.id, 0]));
    for (const r of routes) {
      const held = bytes.get(r.leader);
      if (held !== undefined) bytes.set(r.leader, held + (sizes.get(r.regionId.value) ?? 0));
    }
    const bySize = [...alive].sort((a, b) => bytes.get(a.id)! - bytes.get(b.id)!);
    const from = bySize.at(-1)!;
    // The node leading the fewest bytes that can take one more region with counts still within one.
    for (const to of bySize.slice(0, -1)) {
      const gap = bytes.get(from.id)! - bytes.get(to.id)!;
      if (gap <= minDiffBytes || bytes.get(from.id)! <= ratio * bytes.get(to.id)!) return undefined;
      const counts = alive.map((n) => n.regionCount + (n.id === to.id ? 1 : n.id === from.id ? -1 : 0));
      if (Math.max(...counts) - Math.min(...counts) > 1) continue;
      // The region closest to half the gap without passing it.
      const region = movable(from.id)
        .filter(cold)
        .map((r) => ({ r, size: sizes.get(r.regionId.value) ?? 0 }))
        .filter(({ size }) => size > 0 && size <= gap / 2)
        .sort((a, b) => b.size - a.size)[0]?.r;
      if (region) return { region, from, to };
    }
    return undefined;
  }

  private async move(
    region: RegionRoute,
    most: NodeCandidate,
    least: NodeCandidate,
    by: 'drain' | 'count' | 'size',
  ): Promise<BalanceDecision> {
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
    return { moved: region.regionId.toString(), from: most.id, to: least.id, by };
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

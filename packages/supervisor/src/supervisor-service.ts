import { RealTimeProvider, type TimeProvider, type RegionId } from '@regionstore/core';
import { silentLogger, type Logger, type Registry } from '@regionstore/runtime';
import type { RedisClient } from '@regionstore/runtime';
import { HeartbeatAcceptor, RegionFailureDetectorControl } from './control';
import { MaintenanceModeManager } from './maintenance-mode';
import type { PeerLookup } from './peer';
import { RegionMigrationManager, type RegionMigrationManagerOptions } from './migration-manager';
import { MergeChecker } from './merge-checker';
import { SplitChecker } from './split-checker';
import { BalanceScheduler, type SizeBalance } from './balance-scheduler';
import { RegionGrowth } from './region-growth';
import { ReplicaChecker } from './replica-checker';
import type { FenceStore, LeaseExpiry, RegionNodeClient, RegionRoute, RouteStore } from './migration-ports';
import type { PhiAccrualFailureDetectorOptions } from './phi-accrual-failure-detector';
import { RegionSupervisor } from './region-supervisor';
import { LeastRegionsSelector, type NodeCandidate } from './selector';
import { RegionSupervisorTicker } from './ticker';

export interface SupervisorServiceOptions {
  redis: RedisClient;
  keyPrefix: string;
  /** This metasrv instance: procedures save only while it holds the leader key (see migration-manager). */
  writer?: string;
  routes: RouteStore;
  nodes: RegionNodeClient;
  fences: FenceStore;
  peers: PeerLookup;
  /** Alive nodes with their region counts, for the selector. */
  candidates: () => Promise<NodeCandidate[]>;
  tickIntervalMs?: number;
  /** How long a migration waits for a source node that may be dead (default 5 s). */
  downgradeTimeoutMs?: number;
  detectorOptions?: Partial<PhiAccrualFailureDetectorOptions>;
  /** Region leases granted by this metasrv; a migration waits out the old leader's. */
  leases?: LeaseExpiry;
  /**
   * No failover for this long after becoming leader (default 6 s): longer than a region lease plus a
   * few heartbeats, so restarted nodes report, and leases granted by a previous leader run out.
   */
  failoverGraceMs?: number;
  /** Region balancing (see BalanceScheduler); off without it. */
  balance?: {
    /** Every region's route. */
    routes: () => Promise<RegionRoute[]>;
    intervalMs: number;
    migrationTimeoutMs?: number;
    /** Size balancing's tolerance (see BalanceScheduler). */
    sizeBalance?: SizeBalance;
  };
  /** Follower placement (see ReplicaChecker); off without it, as with `replicas` 1. */
  replicas?: {
    count: number;
    routes: () => Promise<RegionRoute[]>;
    intervalMs: number;
  };
  time?: TimeProvider;
  logger?: Logger;
  metrics?: Registry;
  /** What splits need (see RegionSplitProcedure); without it, regions are never split. */
  split?: RegionMigrationManagerOptions['split'];
  /** Splits by size (see SplitChecker); off without it. */
  splitCheck?: { maxSizeBytes: number; maxKeys?: number; intervalMs: number; splitTimeoutMs?: number };
  /** Merges of small neighbours (see MergeChecker); off without it. */
  mergeCheck?: {
    routes: () => Promise<RegionRoute[]>;
    maxSizeBytes: number;
    maxKeys?: number;
    splitMergeIntervalMs: number;
    minRegions: number;
    intervalMs: number;
  };
}

/** What a region's leader last reported of it. */
interface RegionStats {
  bytes: number;
  /** MVCC versions, estimated (absent from nodes that do not report them). */
  keys?: number;
  /** Where load-based split would split it (see the storage node's LoadSplitDetector). */
  loadSplitKey?: Buffer;
}

/** A region size older than this (its leader stopped reporting it) is not acted on. */
const REGION_SIZE_TTL_MS = 10_000;

export const DEFAULT_FAILOVER_GRACE_MS = 6000;

/**
 * The metasrv side of failure handling, assembled: supervisor loop, ticker, detector control,
 * heartbeat acceptor, migration manager, maintenance flag. Leader-only work (ticks, running
 * procedures) starts in `onLeaderStart` and stops at once in `onLeaderStop`.
 */
export class SupervisorService {
  readonly channel = RegionSupervisor.channel();
  readonly supervisor: RegionSupervisor;
  readonly ticker: RegionSupervisorTicker;
  readonly control: RegionFailureDetectorControl;
  readonly heartbeats: HeartbeatAcceptor;
  readonly migrations: RegionMigrationManager;
  readonly maintenance: MaintenanceModeManager;
  readonly balance: BalanceScheduler | undefined;
  readonly replicas: ReplicaChecker | undefined;
  readonly splitChecker: SplitChecker | undefined;
  readonly mergeChecker: MergeChecker | undefined;
  /** Each region's size as its leader last reported it, and when. */
  private readonly regionStats = new Map<bigint, RegionStats & { atMs: number }>();
  private readonly growth = new RegionGrowth();
  private loop: Promise<void> | undefined;
  private readonly time: TimeProvider;
  private readonly failoverGraceMs: number;

  constructor(options: SupervisorServiceOptions) {
    const time = options.time ?? new RealTimeProvider();
    this.time = time;
    this.failoverGraceMs = options.failoverGraceMs ?? DEFAULT_FAILOVER_GRACE_MS;
    const logger = options.logger ?? silentLogger();
    this.maintenance = new MaintenanceModeManager(options.redis, options.keyPrefix);
    this.migrations = new RegionMigrationManager({
      redis: options.redis,
      keyPrefix: options.keyPrefix,
      ...(options.writer ? { writer: options.writer } : {}),
      routes: options.routes,
      nodes: options.nodes,
      fences: options.fences,
      time,
      logger,
      ...(options.downgradeTimeoutMs ? { downgradeTimeoutMs: options.downgradeTimeoutMs } : {}),
      ...(options.leases ? { leases: options.leases } : {}),
      ...(options.metrics ? { metrics: options.metrics } : {}),
      ...(options.split ? { split: options.split } : {}),
      onRangeProcedureEnded: (regionIds) =>
        void this.watchLeaders(options.routes, regionIds).catch((err: unknown) =>
          logger.warn({ err }, 'watching the leaders after a split or merge failed'),
        ),
    });
    this.supervisor = new RegionSupervisor({
      channel: this.channel,
      selector: new LeastRegionsSelector(options.candidates),
      migrations: this.migrations,
      maintenance: this.maintenance,
      peers: options.peers,
      routes: options.routes,
      candidates: options.candidates,
      time,
      logger,
      ...(options.detectorOptions ? { detectorOptions: options.detectorOptions } : {}),
      ...(options.metrics ? { metrics: options.metrics } : {}),
    });
    this.balance = options.balance
      ? new BalanceScheduler({
          candidates: options.candidates,
          routes: options.balance.routes,
          migrations: this.migrations,
          maintenance: this.maintenance,
          intervalMs: options.balance.intervalMs,
          migrationTimeoutMs: options.balance.migrationTimeoutMs ?? 60_000,
          sizes: () => this.regionSizes(),
          growth: () => this.regionGrowth(),
          ...(options.balance.sizeBalance ? { sizeBalance: options.balance.sizeBalance } : {}),
          time,
          logger,
          ...(options.metrics ? { metrics: options.metrics } : {}),
        })
      : undefined;
    this.replicas =
      options.replicas && options.replicas.count > 1
        ? new ReplicaChecker({
            replicas: options.replicas.count,
            routes: options.replicas.routes,
            store: options.routes,
            candidates: options.candidates,
            nodes: options.nodes,
            migrations: this.migrations,
            maintenance: this.maintenance,
            intervalMs: options.replicas.intervalMs,
            time,
            logger,
            ...(options.metrics ? { metrics: options.metrics } : {}),
          })
        : undefined;
    this.splitChecker =
      options.split && options.splitCheck
        ? new SplitChecker({
            sizes: () => this.regionSizes(),
            keys: () => this.regionKeys(),
            loadSplitKeys: () => this.freshLoadSplitKeys(),
            splits: this.migrations,
            maintenance: this.maintenance,
            maxSizeBytes: options.splitCheck.maxSizeBytes,
            ...(options.splitCheck.maxKeys ? { maxKeys: options.splitCheck.maxKeys } : {}),
            intervalMs: options.splitCheck.intervalMs,
            splitTimeoutMs: options.splitCheck.splitTimeoutMs ?? 60_000,
            time,
            logger,
            ...(options.metrics ? { metrics: options.metrics } : {}),
          })
        : undefined;
    this.mergeChecker =
      options.split && options.mergeCheck
        ? new MergeChecker({
            ...options.mergeCheck,
            sizes: () => this.regionSizes(),
            keys: () => this.regionKeys(),
            loadSplitKeys: () => this.freshLoadSplitKeys(),
            procedures: this.migrations,
            peers: options.peers,
            candidates: options.candidates,
            maintenance: this.maintenance,
            timeoutMs: 60_000,
            time,
            logger,
            ...(options.metrics ? { metrics: options.metrics } : {}),
          })
        : undefined;
    this.ticker = new RegionSupervisorTicker(this.channel, options.tickIntervalMs, time, logger);
    this.control = new RegionFailureDetectorControl(this.channel);
    this.heartbeats = new HeartbeatAcceptor(this.channel);
  }

  /** Failure detectors for the regions' current leaders (kept ones stay as they are). */
  private async watchLeaders(routes: RouteStore, regionIds: RegionId[]): Promise<void> {
    const watched = [];
    for (const regionId of regionIds) {
      const route = await routes.get(regionId);
      if (route) watched.push({ nodeId: route.leader, regionId });
    }
    await this.control.registerFailureDetectors(watched);
  }

  /**
   * What a leader's heartbeat says of its regions: sizes (the split and merge checkers and size
   * balancing read them) and load-based split keys.
   */
  recordRegionStats(stats: ReadonlyArray<{ regionId: RegionId } & RegionStats>): void {
    const atMs = this.time.now();
    for (const { regionId, ...rest } of stats) {
      this.regionStats.set(regionId.value, { ...rest, atMs });
      this.growth.record(regionId.value, rest.bytes, atMs);
    }
  }

  /** Every region's stats from a heartbeat recent enough to act on; older ones are dropped. */
  private freshRegionStats(): Map<bigint, RegionStats> {
    const now = this.time.now();
    const fresh = new Map<bigint, RegionStats>();
    for (const [id, stats] of this.regionStats) {
      if (now - stats.atMs <= REGION_SIZE_TTL_MS) fresh.set(id, stats);
      else this.regionStats.delete(id);
    }
    this.growth.retain(new Set(fresh.keys()));
    return fresh;
  }

  /** How fast each region grew lately, in bytes per second, where known (see RegionGrowth). */
  regionGrowth(): Map<bigint, number> {
    return this.growth.rates(this.freshRegionStats().keys());
  }

  /** Each region's size as its leader last reported it, if recently enough (the leader's view only). */
  regionSizes(): Map<bigint, number> {
    return new Map([...this.freshRegionStats()].map(([id, stats]) => [id, stats.bytes]));
  }

  /** Each region's estimated MVCC versions, where its leader reported them recently. */
  regionKeys(): Map<bigint, number> {
    const keys = new Map<bigint, number>();
    for (const [id, stats] of this.freshRegionStats()) if (stats.keys !== undefined) keys.set(id, stats.keys);
    return keys;
  }

  private freshLoadSplitKeys(): Map<bigint, Buffer> {
    const keys = new Map<bigint, Buffer>();
    for (const [id, stats] of this.freshRegionStats())
      if (stats.loadSplitKey) keys.set(id, stats.loadSplitKey);
    return keys;
  }

  /** Starts the event loop (every metasrv runs it; only the leader ticks). */
  start(): void {
    this.loop ??= this.supervisor.run();
  }

  async onLeaderStart(): Promise<string[]> {
    this.supervisor.holdFailoverUntil(this.time.now() + this.failoverGraceMs);
    this.ticker.start();
    // Like failover, balancing waits for restarted nodes to report first.
    this.balance?.start(this.failoverGraceMs);
    this.replicas?.start(this.failoverGraceMs);
    this.splitChecker?.start(this.failoverGraceMs);
    this.mergeChecker?.start(this.failoverGraceMs);
    return this.migrations.resumeAll();
  }

  async onLeaderStop(): Promise<void> {
    this.ticker.stop();
    this.balance?.stop();
    this.replicas?.stop();
    this.splitChecker?.stop();
    this.mergeChecker?.stop();
    await this.migrations.stop();
  }

  async stop(): Promise<void> {
    await this.onLeaderStop();
    this.channel.close();
    await this.loop;
  }
}

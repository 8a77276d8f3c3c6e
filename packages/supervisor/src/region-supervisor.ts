import {
  Channel,
  RealTimeProvider,
  isRegionStoreError,
  type RegionId,
  type TimeProvider,
} from '@regionstore/core';
import {
  counter,
  createMetricsRegistry,
  silentLogger,
  type Counter,
  type Logger,
  type Registry,
} from '@regionstore/runtime';
import { SUPERVISOR_CHANNEL_CAPACITY, type DatanodeHeartbeat, type SupervisorEvent } from './events';
import type { MaintenanceModeManager } from './maintenance-mode';
import type { RegionMigrationSubmitter } from './migration-submitter';
import type { Peer, PeerLookup } from './peer';
import type { PhiAccrualFailureDetectorOptions } from './phi-accrual-failure-detector';
import { RegionFailureDetector, type DetectingRegion } from './region-failure-detector';
import type { RouteStore } from './migration-ports';
import type { NodeCandidate, Selector } from './selector';

export const FAILOVER_MIGRATION_TIMEOUT_MS = 60_000;
/**
 * Nodes that fell silent together cross the failure threshold at different ticks (their detectors
 * learned different interval histories); for the mass-failure guard a node that has not been heard
 * for this long counts as failing too. A healthy node heartbeats every 500 ms; if one is merely late,
 * a real single failure is moved a tick later, which is the side to err on.
 */
export const MASS_FAILURE_SILENCE_MS = 1000;

/**
 * After a mass failure no failover for this long: the silent nodes come back one by one (their queued
 * heartbeats, or their processes, resume in some order), and a tick in between would see a single
 * failed node and move it. A node that really died stays failed past this and is moved then.
 */
export const MASS_FAILURE_RECOVERY_MS = 3000;

/** Why a tick found failed regions and moved none of them. */
export type FailoverSuppression = 'grace' | 'maintenance' | 'mass_failure';

export interface RegionSupervisorDeps {
  channel: Channel<SupervisorEvent>;
  selector: Selector;
  migrations: RegionMigrationSubmitter;
  maintenance: Pick<MaintenanceModeManager, 'isEnabled'>;
  peers: PeerLookup;
  /** The region's route and the alive nodes, to fail over to its most caught-up follower. */
  routes?: Pick<RouteStore, 'get'>;
  candidates?: () => Promise<NodeCandidate[]>;
  detectorOptions?: Partial<PhiAccrualFailureDetectorOptions>;
  time?: TimeProvider;
  logger?: Logger;
  metrics?: Registry;
}

/**
 * Watches every (node, region) pair through heartbeats and fails regions over when their detector says
 * they are gone. One event loop owns all state, so events never race each other.
 */
export class RegionSupervisor {
  readonly detectors: RegionFailureDetector;
  private readonly channel: Channel<SupervisorEvent>;
  private readonly time: TimeProvider;
  private readonly logger: Logger;
  private readonly suppressed: Counter<'reason'>;
  private readonly failovers: Counter;
  private holdUntilMs = 0;
  /** No failover before this: a mass failure was seen (see MASS_FAILURE_RECOVERY_MS). */
  private massFailureUntilMs = 0;
  /** The suppression last logged, so a long one is logged once, not every tick. */
  private lastSuppression: FailoverSuppression | undefined;
  /** Per region, per follower node: the last WAL entry it reported applied. */
  private readonly followerProgress = new Map<bigint, Map<string, number>>();

  constructor(private readonly deps: RegionSupervisorDeps) {
    this.channel = deps.channel;
    this.detectors = new RegionFailureDetector(deps.detectorOptions);
    this.time = deps.time ?? new RealTimeProvider();
    this.logger = deps.logger ?? silentLogger();
    const metrics = deps.metrics ?? createMetricsRegistry({ defaultMetrics: false });
    this.failovers = counter(metrics, {
      component: 'supervisor',
      what: 'failovers',
      unit: 'total',
      help: 'Failover migrations started (a region moved off a node its detector judged failed)',
    });
    this.suppressed = counter(metrics, {
      component: 'supervisor',
      what: 'failover_suppressed',
      unit: 'total',
      help: 'Ticks that found failed regions and failed none over, by reason (grace, maintenance, mass_failure)',
      labelNames: ['reason'],
    });
  }

  /**
   * No failover before `untilMs`. A metasrv that just became leader knows nothing of the heartbeats
   * its predecessor saw, nor of the leases it granted; nodes restarting with it need time to report.
   */
  holdFailoverUntil(untilMs: number): void {
    this.holdUntilMs = untilMs;
  }

  static channel(): Channel<SupervisorEvent> {
    return new Channel<SupervisorEvent>(SUPERVISOR_CHANNEL_CAPACITY, 'supervisor event channel');
  }

  /** Runs until the channel is closed. */
  async run(): Promise<void> {
    for (;;) {
      const event = await this.channel.recv();
      if (!event) break;
      try {
        await this.handle(event);
      } catch (err) {
        this.logger.error({ err, event: event.type }, 'supervisor event failed');
      }
    }
    this.logger.info('region supervisor stopped');
  }

  private async handle(event: SupervisorEvent): Promise<void> {
    switch (event.type) {
      case 'Tick':
        return this.handleRegionFailures(this.detectRegionFailures());
      case 'RegisterFailureDetectors': {
        // Each region gets the acceptable pause from now to send its first heartbeat.
        const now = this.time.now();
        for (const region of event.regions) this.detectors.maybeInitRegionFailureDetector(region, now);
        return;
      }
      case 'DeregisterFailureDetectors':
        for (const region of event.regions) this.detectors.remove(region);
        return;
      case 'HeartbeatArrived':
        return this.onHeartbeat(event.heartbeat);
      case 'Clear':
        this.detectors.clear();
        return;
      case 'Dump':
        event.reply(this.detectors.dump());
        return;
    }
  }

  private onHeartbeat(heartbeat: DatanodeHeartbeat): void {
    for (const { regionId, lastEntryId } of heartbeat.followers ?? []) {
      let nodes = this.followerProgress.get(regionId.value);
      if (!nodes) this.followerProgress.set(regionId.value, (nodes = new Map()));
      nodes.set(heartbeat.nodeId, lastEntryId);
    }
    for (const regionId of heartbeat.regions) {
      this.detectors
        .regionFailureDetector({ nodeId: heartbeat.nodeId, regionId })
        .heartbeat(heartbeat.timestampMs);
    }
  }

  /** Pairs whose detector says unavailable, each judged against the clock at the moment it is checked. */
  detectRegionFailures(): DetectingRegion[] {
    const failed: DetectingRegion[] = [];
    for (const entry of this.detectors) {
      // Read the clock per entry: heartbeats keep arriving during a long scan.
      if (!entry.detector.isAvailable(this.time.now())) failed.push(entry.ident);
    }
    return failed;
  }

  /** Counts a tick that moves nothing, and logs it when the reason changes. */
  private suppress(reason: FailoverSuppression, message: string, fields: object): void {
    this.suppressed.inc({ reason });
    if (this.lastSuppression !== reason) this.logger.warn({ ...fields, reason }, message);
    this.lastSuppression = reason;
  }

  /**
   * More than half of the nodes that lead regions failing in the same tick is more likely the
   * metasrv's own trouble (paused, starved of CPU, cut off from the heartbeat queue) than theirs;
   * moving everything would only make it worse (Kubernetes' node controller stops evicting in full
   * disruption for the same reason). Nothing moves until heartbeats flow again.
   */
  private massFailure(failed: DetectingRegion[]): { failedNodes: string[]; nodes: number } | undefined {
    const watched = new Set<string>();
    const failing = new Set(failed.map((f) => f.nodeId));
    const now = this.time.now();
    for (const entry of this.detectors) {
      watched.add(entry.ident.nodeId);
      const last = entry.detector.lastHeartbeat;
      if (last !== undefined && now - last > MASS_FAILURE_SILENCE_MS) failing.add(entry.ident.nodeId);
    }
    const failedNodes = [...failing];
    return failedNodes.length > 1 && failedNodes.length * 2 > watched.size
      ? { failedNodes, nodes: watched.size }
      : undefined;
  }

  private async handleRegionFailures(failed: DetectingRegion[]): Promise<void> {
    if (failed.length === 0) {
      this.lastSuppression = undefined;
      return;
    }
    const now = this.time.now();
    if (now < this.holdUntilMs) {
      this.suppress(
        'grace',
        'region failures detected during the grace period after election; no failover yet',
        {
          regions: failed.length,
          graceLeftMs: this.holdUntilMs - now,
        },
      );
      return;
    }
    const mass = this.massFailure(failed);
    if (mass) this.massFailureUntilMs = now + MASS_FAILURE_RECOVERY_MS;
    if (mass || now < this.massFailureUntilMs) {
      this.suppress('mass_failure', 'most nodes look failed at once; suspecting the metasrv, no failover', {
        regions: failed.length,
        ...(mass ?? { recoveryLeftMs: this.massFailureUntilMs - now }),
      });
      return;
    }
    let maintenance: boolean;
    try {
      maintenance = await this.deps.maintenance.isEnabled();
    } catch (err) {
      this.logger.error({ err }, 'cannot read maintenance mode; skipping failover this tick');
      return;
    }
    if (maintenance) {
      this.suppress('maintenance', 'maintenance mode is on: region failures detected, no failover', {
        regions: failed.length,
      });
      return;
    }
    this.lastSuppression = undefined;
    const toFailOver: DetectingRegion[] = [];
    for (const ident of failed) {
      // A region already moving has a procedure in charge; its detector would only fire again.
      if (this.deps.migrations.isMigrating(ident.regionId)) this.detectors.remove(ident);
      else toFailOver.push(ident);
    }
    if (toFailOver.length === 0) return;
    this.logger.warn(
      { regions: toFailOver.map((r) => `${r.nodeId}/${r.regionId}`) },
      'region failures detected',
    );
    for (const ident of toFailOver) {
      try {
        await this.failover(ident.nodeId, ident.regionId);
        this.detectors.remove(ident);
      } catch (err) {
        this.logger.error(
          { err, nodeId: ident.nodeId, regionId: ident.regionId.toString() },
          'region failover failed',
        );
      }
    }
  }

  /**
   * The region's followers on alive nodes, the one that applied the most of the WAL first: it only
   * has the WAL's tail left to apply (TiKV elects the most up-to-date peer the same way). Undefined
   * when it has none: a node then opens the region from the object store.
   */
  private async caughtUpFollowers(failed: string, regionId: RegionId): Promise<Peer[] | undefined> {
    if (!this.deps.routes || !this.deps.candidates) return undefined;
    const route = await this.deps.routes.get(regionId);
    const alive = new Map((await this.deps.candidates()).filter((n) => n.alive).map((n) => [n.id, n]));
    const progress = this.followerProgress.get(regionId.value);
    const followers = (route?.followers ?? [])
      .filter((id) => id !== failed && alive.has(id))
      .sort((a, b) => (progress?.get(b) ?? -1) - (progress?.get(a) ?? -1));
    if (followers.length === 0) return undefined;
    return followers.map((id) => ({ id, address: alive.get(id)!.address }));
  }

  private async failover(nodeId: string, regionId: RegionId): Promise<void> {
    const fromPeer = await this.deps.peers.node(nodeId);
    if (!fromPeer) throw new Error(`node ${nodeId} is unknown; cannot fail over region ${regionId}`);
    const [toPeer] =
      (await this.caughtUpFollowers(nodeId, regionId)) ??
      (await this.deps.selector.select({ minRequiredItems: 1, allowDuplication: false, exclude: [nodeId] }));
    if (!toPeer || toPeer.id === fromPeer.id) {
      this.logger.warn(
        { regionId: regionId.toString(), nodeId },
        'skip failover: the only target is the failed node',
      );
      return;
    }
    try {
      await this.deps.migrations.submit({
        regionId,
        fromPeer,
        toPeer,
        timeoutMs: FAILOVER_MIGRATION_TIMEOUT_MS,
      });
      this.failovers.inc();
    } catch (err) {
      // Already moving, or dropped: either way nothing is left to do for this region.
      if (isRegionStoreError(err, 'MigrationRunning') || isRegionStoreError(err, 'TableRouteNotFound'))
        return;
      throw err;
    }
  }
}

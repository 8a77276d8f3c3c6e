import { RealTimeProvider, type RegionId, type TimeProvider } from '@regionstore/core';
import {
  counter,
  createMetricsRegistry,
  silentLogger,
  type Counter,
  type Logger,
  type Registry,
} from '@regionstore/runtime';
import type { RegionNodeClient, RegionRoute, RouteStore } from './migration-ports';
import { PeriodicRounds } from './periodic';
import { takesRegions, type NodeCandidate } from './selector';

export interface ReplicaCheckerDeps {
  /** Copies wanted per region, the leader included (1: no followers). */
  replicas: number;
  routes: () => Promise<RegionRoute[]>;
  store: Pick<RouteStore, 'get' | 'update'>;
  candidates: () => Promise<NodeCandidate[]>;
  nodes: Pick<RegionNodeClient, 'openCandidate' | 'closeRegion'>;
  migrations: { isMigrating(regionId: RegionId): boolean; isChangingRange(regionId: RegionId): boolean };
  maintenance: { isEnabled(): Promise<boolean> };
  intervalMs: number;
  /** Followers being built at once, at most (each loads the region from the object store). */
  maxBuilding?: number;
  time?: TimeProvider;
  logger?: Logger;
  metrics?: Registry;
}

/**
 * PD's replica checker, for followers that tail the WAL: every region keeps `replicas − 1` followers
 * (fewer while there are not enough alive nodes), each on a node other than its leader's. A follower
 * on a node that is no longer alive leaves the route (the node closes it when it comes back); a
 * missing one is opened on the alive node holding the fewest copies, and enters the route once it
 * is open. Regions a migration is moving are left to it.
 */
export class ReplicaChecker {
  private readonly time: TimeProvider;
  private readonly logger: Logger;
  private readonly actions: Counter<'action'>;
  private readonly building = new Set<bigint>();
  private readonly rounds: PeriodicRounds;

  constructor(private readonly deps: ReplicaCheckerDeps) {
    this.time = deps.time ?? new RealTimeProvider();
    this.rounds = new PeriodicRounds(
      this.time,
      deps.intervalMs,
      () => this.tick(),
      (err) => this.logger.warn({ err }, 'replica check failed'),
    );
    this.logger = deps.logger ?? silentLogger();
    this.actions = counter(deps.metrics ?? createMetricsRegistry({ defaultMetrics: false }), {
      component: 'supervisor',
      what: 'replica_actions',
      unit: 'total',
      help: 'Follower placement actions: added (a follower built), removed (its node died, or one too many), failed',
      labelNames: ['action'],
    });
  }

  /** One round over every region; resolves once routes are updated (builds go on in the background). */
  async tick(): Promise<void> {
    if (await this.deps.maintenance.isEnabled()) return;
    const nodes = await this.deps.candidates();
    // A drained node keeps no follower: it leaves the route here, and its copy is closed by the
    // heartbeat repair once no route names it there.
    const alive = nodes.filter(takesRegions);
    const aliveIds = new Set(alive.map((n) => n.id));
    const wanted = Math.max(0, Math.min(this.deps.replicas, alive.length) - 1);
    const drainedLeaders = new Set(nodes.filter((n) => n.alive && n.drained).map((n) => n.id));
    const routes = await this.deps.routes();
    const copies = new Map<string, number>(alive.map((n) => [n.id, 0]));
    for (const route of routes) {
      for (const id of [route.leader, ...(route.followers ?? [])]) copies.set(id, (copies.get(id) ?? 0) + 1);
    }
    for (const route of routes) {
      if (route.state !== 'Normal' || this.deps.migrations.isMigrating(route.regionId)) continue;
      if (this.building.has(route.regionId.value)) continue;
      // A drained node leads until balancing moves the region off: all its followers sit on nodes
      // that take regions, one more of them than a region led by one of those has.
      const wantedHere = drainedLeaders.has(route.leader)
        ? Math.min(this.deps.replicas - 1, alive.length)
        : wanted;
      const followers = route.followers ?? [];
      const live = followers.filter((id) => id !== route.leader && aliveIds.has(id));
      const kept = live.slice(0, wantedHere);
      for (const extra of live.slice(wantedHere)) this.closeExtra(route, extra);
      if (kept.length !== followers.length) {
        // Only those this round found dead or extra go: a follower added meanwhile stays
        const gone = followers.filter((id) => !kept.includes(id));
        await this.deps.store.update(
          route.regionId,
          (current) => ({ followers: (current.followers ?? []).filter((id) => !gone.includes(id)) }),
          route.epoch.version,
        );
        this.actions.inc({ action: 'removed' }, followers.length - kept.length);
      }
      if (kept.length >= wantedHere || this.building.size >= (this.deps.maxBuilding ?? 2)) continue;
      const target = alive
        .filter((n) => n.id !== route.leader && !kept.includes(n.id))
        .sort((a, b) => (copies.get(a.id) ?? 0) - (copies.get(b.id) ?? 0) || (a.id < b.id ? -1 : 1))[0];
      if (!target) continue;
      copies.set(target.id, (copies.get(target.id) ?? 0) + 1);
      this.build(route, target);
    }
  }

  private build(route: RegionRoute, target: NodeCandidate): void {
    const key = route.regionId.value;
    this.building.add(key);
    const fields = { regionId: route.regionId.toString(), nodeId: target.id };
    void (async () => {
      try {
        const { regionId, range, epoch } = route;
        await this.deps.nodes.openCandidate(target, { regionId, range, epoch });
        // The route may have moved on meanwhile: the follower joins the route as it is now, unless the
        // region's range changed (a split or merge since: this copy holds the old range, so it goes);
        // the update checks that atomically. A migration running meanwhile is no reason: a failover
        // may have picked this very copy.
        // Nor while a split or merge holds the region: it closes the followers it finds when it starts,
        // so one added after that would be left open on a range no route names.
        const now = await this.deps.store.get(route.regionId);
        if (!now || now.leader === target.id) return;
        const joined = await this.deps.store.update(
          route.regionId,
          (current) =>
            this.deps.migrations.isChangingRange(route.regionId) || current.leader === target.id
              ? undefined
              : { followers: [...new Set([...(current.followers ?? []), target.id])] },
          epoch.version,
        );
        if (!joined) {
          const replaced = (await this.deps.store.get(route.regionId))?.epoch ?? now.epoch;
          await this.deps.nodes.closeRegion(target, route.regionId, replaced);
          this.actions.inc({ action: 'removed' });
          return;
        }
        this.actions.inc({ action: 'added' });
        this.logger.info(fields, 'follower added');
      } catch (err) {
        this.actions.inc({ action: 'failed' });
        this.logger.warn({ ...fields, err }, 'building a follower failed');
      } finally {
        this.building.delete(key);
      }
    })();
  }

  private closeExtra(route: RegionRoute, nodeId: string): void {
    void this.deps.nodes
      .closeRegion({ id: nodeId, address: '' }, route.regionId, route.epoch)
      .catch((err: unknown) =>
        this.logger.warn({ regionId: route.regionId.toString(), nodeId, err }, 'closing a follower failed'),
      );
  }

  /** A round every interval until `stop`, the first after `delayMs` (on the metasrv leader). */
  start(delayMs = this.deps.intervalMs): void {
    this.rounds.start(delayMs);
  }

  stop(): void {
    this.rounds.stop();
  }
}

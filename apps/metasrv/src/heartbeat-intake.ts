import type { RegionId, Timestamp } from '@regionstore/core';
import type { Logger } from '@regionstore/runtime';
import type { JobPayload } from '@regionstore/protocol';
import type { RegionRoute, SupervisorService } from '@regionstore/supervisor';
import type { ClusterStore } from './cluster-store';
import type { NodeClocks } from './node-clocks';
import type { NodeTaskClient } from './node-client';
import type { RegionLeaseGrants } from './region-leases';
import type { RouteTable } from './route-table';

type Heartbeat = JobPayload<'heartbeat'>;

export interface HeartbeatIntakeDeps {
  store: ClusterStore;
  supervisor: SupervisorService;
  nodes: NodeTaskClient;
  leases: RegionLeaseGrants;
  logger: Logger;
  /** At most one reopen or close per node and region in this period. */
  repairIntervalMs: number;
  /** The cluster id Redis knows (undefined: none, or no identity in this assembly). */
  identity?: () => Promise<string | undefined>;
  /**
   * Whether a region's WAL was retired (a split abandoned, or merged away): a copy of it that no route
   * names is closed for good. Absent: such copies are left alone.
   */
  walRetired?: (regionId: RegionId) => Promise<boolean>;
  /** The cluster GC safepoint each grant carries (absent, or 0: none yet). */
  gcSafePoint?: () => Timestamp;
  /** Told of each node's clock, as its heartbeat was built (the safepoint trails the earliest). */
  nodeClocks?: Pick<NodeClocks, 'heard'>;
  now?: () => number;
}

/**
 * What the metasrv leader does with one node's heartbeat:
 * - records the node (address, last heartbeat, region counts);
 * - grants the node the leases of the regions it leads *and* the route gives it (state Normal, same
 *   epoch), nothing else, and tells it the cluster GC safepoint;
 * - feeds the failure detectors of those regions, and of those it is opening (alive, replaying);
 * - repairs placement: a region routed to the node that it does not serve is opened there as leader
 *   (a restarted node, a downgraded leader whose migration rolled back, a leader at an older placement
 *   than its route's); a region it holds that the
 *   route gives to another node is closed and destroyed there (a paused old leader that resumed),
 *   unless the route names the node as its follower; a follower the route names that the node does
 *   not hold is opened there again; a copy no route names whose WAL was retired (the child of a split
 *   abandoned while its leader seemed dead, a merge's source whose close failed) is closed and
 *   destroyed there.
 *   Regions with a migration running are the procedure's business and are left alone.
 */
export class HeartbeatIntake {
  private readonly lastRepair = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly deps: HeartbeatIntakeDeps) {
    this.now = deps.now ?? (() => Date.now());
  }

  async accept(heartbeat: Heartbeat): Promise<void> {
    const { store, supervisor, leases } = this.deps;
    const cluster = heartbeat.clusterId && (await this.deps.identity?.());
    if (cluster && cluster !== heartbeat.clusterId) {
      // A node of another cluster: never recorded, granted, or given regions.
      this.deps.logger.warn(
        { nodeId: heartbeat.nodeId, nodeCluster: heartbeat.clusterId, cluster },
        'ignored a heartbeat from a node of another cluster',
      );
      return;
    }
    this.deps.nodeClocks?.heard(heartbeat.nodeId, heartbeat.timestampMs);
    const claimed = heartbeat.regions.filter((r) => r.role === 'leader');
    const pending = leases.begin(
      heartbeat.nodeId,
      claimed.map((r) => r.regionId),
    );
    try {
      await store.recordHeartbeat(heartbeat.nodeId, {
        address: heartbeat.address,
        lastHeartbeatMs: this.now(),
        regions: heartbeat.regions.length,
        leaders: claimed.length,
      });
      // Only this node's routes are looked at: a heartbeat costs what the node holds, not the cluster.
      const routes = await store.table();
      const routedHere = (id: RegionId) => routes.get(id)?.leader === heartbeat.nodeId;
      const granted = claimed.filter((r) => {
        const route = routes.get(r.regionId);
        return route?.state === 'Normal' && routedHere(r.regionId) && route.epoch.confVer === r.epoch.confVer;
      });
      if (heartbeat.seq)
        await leases.grant(
          pending,
          heartbeat.seq,
          granted.map((r) => r.regionId),
          this.deps.gcSafePoint?.(),
        );
      supervisor.recordRegionStats(
        granted.map((r) => ({
          regionId: r.regionId,
          bytes: r.approximateSizeBytes,
          ...(r.approximateKeys === undefined ? {} : { keys: r.approximateKeys }),
          ...(r.loadSplitKey ? { loadSplitKey: r.loadSplitKey } : {}),
        })),
      );
      // Only regions the route gives this node count, at its placement: neither a stale leader nor one
      // behind its route (which the repair reopens) keeps its detector alive, so should that reopen
      // never succeed, a failover moves the region on.
      await supervisor.heartbeats.accept({
        nodeId: heartbeat.nodeId,
        regions: [
          ...claimed.filter((r) => !behindRoute(r, routes)).map((r) => r.regionId),
          ...heartbeat.opening,
        ].filter(routedHere),
        timestampMs: this.now(),
        followers: heartbeat.regions
          .filter((r) => r.role === 'follower')
          .map((r) => ({ regionId: r.regionId, lastEntryId: r.lastEntryId ?? 0 })),
      });
      this.repair(heartbeat, routes);
    } finally {
      leases.end(pending);
    }
  }

  private repair(heartbeat: Heartbeat, table: RouteTable): void {
    const node = heartbeat.nodeId;
    const routes = table.onNode(node);
    const migrating = (id: RegionId) => this.deps.supervisor.migrations.isMigrating(id);
    const serving = new Set([
      ...heartbeat.regions
        .filter((r) => r.role === 'leader' && !behindRoute(r, table))
        .map((r) => r.regionId.value),
      ...heartbeat.opening.map((id) => id.value),
    ]);
    const holds = new Set(heartbeat.regions.map((r) => r.regionId.value));
    const opening = new Set(heartbeat.opening.map((id) => id.value));
    for (const route of routes) {
      // A follower the route places here that the node does not hold (it restarted) is opened again.
      const id = route.regionId.value;
      if (!route.followers?.includes(node) || holds.has(id) || opening.has(id)) continue;
      if (migrating(route.regionId) || !this.mayRepair(node, route.regionId)) continue;
      this.run('reopened a follower routed to its node', node, route, () =>
        this.deps.nodes.openCandidate(
          { id: node, address: heartbeat.address },
          { regionId: route.regionId, range: route.range, epoch: route.epoch },
        ),
      );
    }
    for (const route of routes) {
      if (route.leader !== node || route.state !== 'Normal' || serving.has(route.regionId.value)) continue;
      if (migrating(route.regionId) || !this.mayRepair(node, route.regionId)) continue;
      this.run('reopened a region routed to its node', node, route, () =>
        this.deps.nodes.call(node, 'open-region', {
          regionId: route.regionId,
          range: route.range,
          epoch: route.epoch,
          role: 'leader',
        }),
      );
    }
    for (const held of heartbeat.regions) {
      const route = table.get(held.regionId);
      if (!route) {
        this.closeRetired(node, held);
        continue;
      }
      if (route.leader === node || migrating(held.regionId)) continue;
      if (held.role === 'follower' && route.followers?.includes(node)) continue;
      if (!this.mayRepair(node, held.regionId)) continue;
      this.run('closed a region another node leads', node, route, () =>
        this.deps.nodes.call(node, 'close-region', {
          regionId: held.regionId,
          destroy: true,
          epoch: route.epoch,
        }),
      );
    }
  }

  /**
   * A copy no route names is closed only once its WAL says no node will write it again: until then it
   * may be a split's child whose routes are still to come. A retired WAL is never fenced again, so the
   * close cannot race a procedure bringing the region back.
   */
  private closeRetired(nodeId: string, held: Heartbeat['regions'][number]): void {
    const walRetired = this.deps.walRetired;
    if (!walRetired || !this.mayRepair(nodeId, held.regionId)) return;
    this.runIf(
      'closed a retired region no route names',
      nodeId,
      held.regionId,
      () =>
        this.deps.nodes.call(nodeId, 'close-region', {
          regionId: held.regionId,
          destroy: true,
          epoch: held.epoch,
        }),
      async () => !(await this.deps.store.get(held.regionId)) && (await walRetired(held.regionId)),
    );
  }

  private mayRepair(nodeId: string, regionId: RegionId): boolean {
    const key = `${nodeId}/${regionId.toString()}`;
    const now = this.now();
    if (now - (this.lastRepair.get(key) ?? Number.NEGATIVE_INFINITY) < this.deps.repairIntervalMs)
      return false;
    this.lastRepair.set(key, now);
    return true;
  }

  /**
   * Runs a repair decided on `route` as read with the heartbeat, unless the route changed since (a
   * split or merge that ended meanwhile: acting on the old route would reopen a region merged away,
   * or close a copy the new routes place there).
   */
  private run(what: string, nodeId: string, route: RegionRoute, action: () => Promise<unknown>): void {
    this.runIf(what, nodeId, route.regionId, action, async () => {
      const now = await this.deps.store.get(route.regionId);
      return now !== undefined && now.leader === route.leader && sameEpoch(now.epoch, route.epoch);
    });
  }

  /** Repairs run beside the intake (a heartbeat is never held up by a region opening), if still due. */
  private runIf(
    what: string,
    nodeId: string,
    regionId: RegionId,
    action: () => Promise<unknown>,
    stillDue: () => Promise<boolean>,
  ): void {
    const fields = { nodeId, regionId: regionId.toString() };
    void (async () => {
      if (!(await stillDue())) return;
      await action();
      this.deps.logger.info(fields, what);
    })().catch((err: unknown) => this.deps.logger.warn({ ...fields, err }, `failed: ${what}`));
  }
}

/**
 * A leader at a placement older than its route's (a split or merge judged it dead and moved the fence
 * one on, still naming it): it gets no lease and appends nothing until it opens there again.
 */
function behindRoute(region: Heartbeat['regions'][number], routes: RouteTable): boolean {
  const route = routes.get(region.regionId);
  return route !== undefined && region.epoch.confVer < route.epoch.confVer;
}

const sameEpoch = (a: RegionRoute['epoch'], b: RegionRoute['epoch']) =>
  a.version === b.version && a.confVer === b.confVer;

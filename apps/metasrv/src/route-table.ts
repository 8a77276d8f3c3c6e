import { compareKeys, findByKey, type RegionId } from '@regionstore/core';
import type { RegionRoute } from '@regionstore/supervisor';

/**
 * Every route as of one version of the routes in Redis, indexed the ways the metasrv asks: by region,
 * by key (a binary search) and by node (the regions it leads or follows). Built once per version, so
 * a heartbeat or a lookup costs what its own node or key needs, not what the cluster holds.
 */
export class RouteTable {
  /** Sorted by range start. */
  readonly routes: readonly RegionRoute[];
  private readonly byId = new Map<bigint, RegionRoute>();
  private readonly byNode = new Map<string, RegionRoute[]>();

  constructor(routes: RegionRoute[]) {
    // Shared by every caller until the routes change: a caller that changed one would change them all.
    this.routes = routes.sort((a, b) => compareKeys(a.range.start, b.range.start)).map(frozen);
    for (const route of this.routes) {
      this.byId.set(route.regionId.value, route);
      for (const node of new Set([route.leader, ...(route.followers ?? [])])) {
        const placed = this.byNode.get(node);
        if (placed) placed.push(route);
        else this.byNode.set(node, [route]);
      }
    }
  }

  get(regionId: RegionId): RegionRoute | undefined {
    return this.byId.get(regionId.value);
  }

  forKey(key: Buffer): RegionRoute | undefined {
    return findByKey(this.routes, key, (route) => route.range);
  }

  /** The routes naming `nodeId` as leader or follower. */
  onNode(nodeId: string): readonly RegionRoute[] {
    return this.byNode.get(nodeId) ?? [];
  }

  /** How many regions `nodeId` leads. */
  leaderCount(nodeId: string): number {
    return this.onNode(nodeId).filter((route) => route.leader === nodeId).length;
  }
}

function frozen(route: RegionRoute): RegionRoute {
  Object.freeze(route.epoch);
  Object.freeze(route.range);
  if (route.followers) Object.freeze(route.followers);
  return Object.freeze(route);
}

import { RegionId, keyRange } from '@regionstore/core';
import { ReplicaChecker, type NodeCandidate, type RegionRoute } from '@regionstore/supervisor';

/** Routes and nodes as the checker sees them; opens and closes recorded, opens applied by it. */
function cluster(
  leaders: string[],
  nodes: string[],
  options: { replicas?: number; dead?: string[]; drained?: string[] } = {},
) {
  const routes: RegionRoute[] = leaders.map((leader, i) => ({
    regionId: new RegionId(1, i + 1),
    range: keyRange(Buffer.from([i]), Buffer.from([i + 1])),
    leader,
    epoch: { version: 1, confVer: 1 },
    state: 'Normal',
    followers: [],
  }));
  const opened: string[] = [];
  const closed: string[] = [];
  const state = {
    maintenance: false,
    migrating: new Set<string>(),
    splitting: new Set<string>(),
    failOpen: false,
    /** Runs while a follower is being opened: the route may change meanwhile. */
    duringOpen: (_route: RegionRoute) => undefined as void,
  };
  const find = (id: RegionId) => routes.find((r) => r.regionId.value === id.value);
  const checker = new ReplicaChecker({
    replicas: options.replicas ?? 2,
    routes: async () => routes.map((r) => ({ ...r, followers: [...(r.followers ?? [])] })),
    store: {
      get: async (id) => find(id),
      update: async (id, change, ifEpochVersion) => {
        const route = find(id);
        if (!route || (ifEpochVersion !== undefined && route.epoch.version !== ifEpochVersion)) return false;
        const patch = typeof change === 'function' ? change(route) : change;
        if (!patch) return false;
        Object.assign(route, patch);
        return true;
      },
    },
    candidates: async (): Promise<NodeCandidate[]> =>
      nodes.map((id) => ({
        id,
        address: id,
        alive: !options.dead?.includes(id),
        regionCount: 0,
        drained: options.drained?.includes(id) ?? false,
      })),
    nodes: {
      openCandidate: async (peer, region) => {
        if (state.failOpen) throw new Error('node refused');
        opened.push(`${region.regionId}@${peer.id}`);
        state.duringOpen(find(region.regionId)!);
      },
      closeRegion: async (peer, regionId) => void closed.push(`${regionId}@${peer.id}`),
    },
    migrations: {
      isMigrating: (id) => state.migrating.has(id.toString()) || state.splitting.has(id.toString()),
      isChangingRange: (id) => state.splitting.has(id.toString()),
    },
    maintenance: { isEnabled: async () => state.maintenance },
    intervalMs: 1000,
    maxBuilding: 8,
  });
  /** A round, then the background opens it started. */
  const round = async () => {
    await checker.tick();
    await new Promise((r) => setTimeout(r, 10));
  };
  return { routes, opened, closed, state, round };
}

describe('ReplicaChecker', () => {
  it('gives every region replicas − 1 followers, never on its leader, spread over the nodes', async () => {
    const c = cluster(['a', 'a', 'b', 'c'], ['a', 'b', 'c']);
    await c.round();
    for (const route of c.routes) {
      expect(route.followers).toHaveLength(1);
      expect(route.followers![0]).not.toBe(route.leader);
    }
    // a leads two and b, c one each: the followers go to b and c first.
    const copies = (id: string) =>
      c.routes.filter((r) => r.leader === id || r.followers!.includes(id)).length;
    expect(['a', 'b', 'c'].map(copies).sort()).toEqual([2, 3, 3]);
    await c.round();
    expect(c.opened).toHaveLength(4); // placed once
  });

  it('drops a follower whose node died and builds one on an alive node', async () => {
    const c = cluster(['a'], ['a', 'b', 'c'], { dead: ['b'] });
    c.routes[0]!.followers = ['b'];
    await c.round();
    expect(c.routes[0]!.followers).toEqual(['c']);
  });

  it('takes a follower off a drained node and places none there', async () => {
    const c = cluster(['a', 'c'], ['a', 'b', 'c'], { drained: ['b'] });
    c.routes[0]!.followers = ['b'];
    await c.round();
    // Out of the route (the node's heartbeat repair closes its copy), rebuilt on the node left.
    expect(c.routes.map((r) => r.followers)).toEqual([['c'], ['a']]);
    expect(c.opened).not.toContain('1:1@b');
  });

  it("keeps every follower a drained leader's region needs to be moved onto", async () => {
    const c = cluster(['a'], ['a', 'b'], { drained: ['a'] });
    c.routes[0]!.followers = ['b'];
    await c.round();
    expect(c.routes[0]!.followers).toEqual(['b']);
    expect(c.closed).toEqual([]);
  });

  it('keeps fewer followers while fewer nodes are alive, and closes one too many', async () => {
    const c = cluster(['a'], ['a', 'b'], { replicas: 3 });
    await c.round();
    expect(c.routes[0]!.followers).toEqual(['b']);
    const one = cluster(['a'], ['a', 'b', 'c'], { replicas: 2 });
    one.routes[0]!.followers = ['b', 'c'];
    await one.round();
    expect(one.routes[0]!.followers).toEqual(['b']);
    expect(one.closed).toEqual(['1:1@c']);
  });

  it('leaves regions alone in maintenance mode and while they migrate; a failed open is not routed', async () => {
    const c = cluster(['a', 'b'], ['a', 'b', 'c']);
    c.state.maintenance = true;
    await c.round();
    expect(c.opened).toEqual([]);
    c.state.maintenance = false;
    c.state.migrating.add('1:1');
    c.state.failOpen = true;
    await c.round();
    expect(c.routes.map((r) => r.followers)).toEqual([[], []]);
  });

  it('keeps a follower built while a migration started (a failover may pick it), drops one built across a split', async () => {
    const { routes, opened, closed, state, round } = cluster(['a', 'b'], ['a', 'b']);
    state.duringOpen = (route) => {
      // 1:1 starts migrating meanwhile; 1:2 splits (its range and epoch version change)
      if (route.regionId.regionNumber === 1) state.migrating.add('1:1');
      else
        Object.assign(route, {
          epoch: { version: 2, confVer: 1 },
          range: keyRange(Buffer.from([1]), Buffer.from([1, 128])),
        });
    };
    await round();
    expect(opened.sort()).toEqual(['1:1@b', '1:2@a']);
    expect(routes[0]!.followers).toEqual(['b']);
    expect(routes[1]!.followers).toEqual([]);
    expect(closed).toEqual(['1:2@a']);
  });

  it('adds no follower to a region a split or merge took meanwhile (the copy is closed instead)', async () => {
    const { routes, opened, closed, state, round } = cluster(['a', 'b'], ['a', 'b', 'c'], { replicas: 2 });
    // 1:1 starts splitting while its follower is opened: the copy is closed, not routed
    state.duringOpen = (route) => {
      if (route.regionId.regionNumber === 1) state.splitting.add('1:1');
    };
    await round();
    expect(opened).toHaveLength(2);
    expect(routes[0]!.followers).toEqual([]);
    expect(closed).toEqual([expect.stringMatching(/^1:1@/)]);
    expect(routes[1]!.followers).toHaveLength(1);
  });

  it('with replicas 1 places nothing', async () => {
    const c = cluster(['a'], ['a', 'b'], { replicas: 1 });
    await c.round();
    expect(c.opened).toEqual([]);
  });
});

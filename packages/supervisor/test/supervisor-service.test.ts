import { setTimeout as delay } from 'node:timers/promises';
import { ManualTimeProvider, RegionId } from '@regionstore/core';
import { SupervisorService } from '@regionstore/supervisor';
import { useRedisNamespace } from '@regionstore/testing';
import { A, B, Cluster } from './cluster-fake';

const ns = useRedisNamespace('supervisor-service');

/** A SupervisorService over the fake cluster with nodes A and B, as `candidates` describes them. */
async function supervisorOver(
  cluster: Cluster,
  time: ManualTimeProvider,
  candidates: Array<{ alive: boolean; regionCount: number }>,
  options: Partial<ConstructorParameters<typeof SupervisorService>[0]> = {},
): Promise<SupervisorService> {
  return new SupervisorService({
    redis: await ns.connect(),
    keyPrefix: ns.prefix,
    routes: cluster,
    nodes: cluster,
    fences: cluster,
    peers: { node: async (id) => [A, B].find((p) => p.id === id) },
    candidates: async () => [A, B].map((peer, i) => ({ ...peer, ...candidates[i]! })),
    time,
    ...options,
  });
}

describe('SupervisorService', () => {
  it('fails a silent node’s region over to the other node through one migration procedure', async () => {
    const time = new ManualTimeProvider(1_000_000);
    const cluster = new Cluster();
    const regionId = new RegionId(5, 1);
    cluster.addRegion(regionId, A);
    const service = await supervisorOver(
      cluster,
      time,
      [
        { alive: false, regionCount: 1 },
        { alive: true, regionCount: 0 },
      ],
      { tickIntervalMs: 1000, detectorOptions: { acceptableHeartbeatPauseMillis: 2000 } },
    );
    service.start();
    await service.onLeaderStart();
    for (let i = 0; i < 5; i++) {
      await service.heartbeats.accept({ nodeId: A.id, regions: [regionId], timestampMs: time.now() });
      await time.advance(500);
    }
    expect(cluster.endState(regionId).route.leader).toBe(A.id);
    // node A falls silent. The procedure's steps go through real Redis, so each tick of the manual
    // clock gets real time to finish them; a loaded machine needs more than a few event-loop turns.
    const movedToB = () => {
      const { route, fence } = cluster.endState(regionId);
      return route.leader === B.id && route.state === 'Normal' && fence?.nodeId === B.id;
    };
    for (let i = 0; i < 10 && !movedToB(); i++) {
      await time.advance(1000);
      for (let waited = 0; waited < 2000 && !movedToB(); waited += 20) await delay(20);
    }
    expect(cluster.endState(regionId)).toMatchObject({
      route: { leader: B.id, state: 'Normal' },
      fence: { nodeId: B.id },
    });
    expect(cluster.calls.filter((c) => c.startsWith('open'))).toEqual(['open node-b']);
    await service.stop();
  });

  it('balances by the growth it measures from the sizes leaders report: the slowest-growing region moves', async () => {
    const time = new ManualTimeProvider(1_000_000);
    const cluster = new Cluster();
    const [hot, cold] = [new RegionId(6, 1), new RegionId(6, 2)];
    cluster.addRegion(hot, A);
    cluster.addRegion(cold, A);
    const service = await supervisorOver(
      cluster,
      time,
      [
        { alive: true, regionCount: 2 },
        { alive: true, regionCount: 0 },
      ],
      { balance: { routes: async () => [...cluster.routes.values()], intervalMs: 60_000 } },
    );
    const MiB = 1024 * 1024;
    service.recordRegionStats([
      { regionId: hot, bytes: 100 * MiB },
      { regionId: cold, bytes: 100 * MiB },
    ]);
    await time.advance(10_000);
    service.recordRegionStats([
      { regionId: hot, bytes: 150 * MiB },
      { regionId: cold, bytes: 101 * MiB },
    ]);
    expect(service.regionGrowth()).toEqual(
      new Map([
        [hot.value, 5 * MiB],
        [cold.value, 0.1 * MiB],
      ]),
    );
    expect(await service.balance!.tick()).toMatchObject({ moved: cold.toString(), by: 'count' });
    await service.stop();
  });
});

import { MigrationRunningError, RegionId, keyRange } from '@regionstore/core';
import { createMetricsRegistry } from '@regionstore/runtime';
import {
  BalanceScheduler,
  type NodeCandidate,
  type RegionMigrationTask,
  type RegionRoute,
} from '@regionstore/supervisor';

/** A cluster as the scheduler sees it: node liveness and routes; moves recorded and applied. */
function cluster(
  placement: Record<string, number>,
  dead: string[] = [],
  sizesMiB?: number[],
  drained: string[] = [],
  /** Each region's growth in MiB/s, in route order (0 when not given; undefined: not known yet). */
  growthMiBps: Array<number | undefined> = [],
) {
  const routes: RegionRoute[] = [];
  let n = 0;
  for (const [node, count] of Object.entries(placement)) {
    for (let i = 0; i < count; i++) {
      routes.push({
        regionId: new RegionId(1, ++n),
        range: keyRange(Buffer.from([n]), Buffer.from([n + 1])),
        leader: node,
        epoch: { version: 1, confVer: 1 },
        state: 'Normal',
      });
    }
  }
  const state = {
    maintenance: false,
    running: 0,
    refuse: false,
    submitted: [] as RegionMigrationTask[],
  };
  const metrics = createMetricsRegistry({ defaultMetrics: false });
  const scheduler = new BalanceScheduler({
    candidates: async (): Promise<NodeCandidate[]> =>
      Object.keys(placement).map((id) => ({
        id,
        address: `http://${id}`,
        alive: !dead.includes(id),
        regionCount: routes.filter((r) => r.leader === id).length,
        drained: drained.includes(id),
      })),
    routes: async () => routes,
    migrations: {
      get runningCount() {
        return state.running;
      },
      isMigrating: () => false,
      submit: async (task) => {
        if (state.refuse) throw new MigrationRunningError('already moving');
        state.submitted.push(task);
        // The migration finishes at once here: the route names the new leader.
        routes.find((r) => r.regionId.value === task.regionId.value)!.leader = task.toPeer.id;
      },
    },
    maintenance: { isEnabled: async () => state.maintenance },
    intervalMs: 1000,
    migrationTimeoutMs: 30_000,
    metrics,
    ...(sizesMiB
      ? { sizes: () => new Map(routes.map((r, i) => [r.regionId.value, sizesMiB[i]! * 1024 * 1024])) }
      : {}),
    growth: () => {
      const rates = routes.map(
        (r, i) => [r.regionId.value, i < growthMiBps.length ? growthMiBps[i] : 0] as const,
      );
      return new Map(
        rates.filter(([, rate]) => rate !== undefined).map(([id, rate]) => [id, rate! * 1024 * 1024]),
      );
    },
  });
  const counts = () => Object.keys(placement).map((id) => routes.filter((r) => r.leader === id).length);
  return { scheduler, state, counts, metrics, routes };
}

describe('BalanceScheduler', () => {
  it('moves one region per round from the fullest alive node to the emptiest until within one', async () => {
    const { scheduler, state, counts, metrics } = cluster({ 'node-1': 8, 'node-2': 0, 'node-3': 0 });
    expect(await scheduler.tick()).toEqual({ moved: '1:1', from: 'node-1', to: 'node-2', by: 'count' });
    expect(state.submitted[0]).toMatchObject({ fromPeer: { id: 'node-1' }, toPeer: { id: 'node-2' } });
    for (let round = 0; round < 10; round++) await scheduler.tick();
    expect(counts().sort()).toEqual([2, 3, 3]);
    expect(state.submitted).toHaveLength(5);
    expect(await scheduler.tick()).toEqual({ skipped: 'balanced' });
    const text = await metrics.metrics();
    expect(text).toMatch(/regionstore_supervisor_balance_rounds_total\{result="moved"\} 5/);
    expect(text).toMatch(/regionstore_supervisor_balance_rounds_total\{result="balanced"\} 7/);
  });

  it("empties a drained node first, onto each region's follower where it has one, and places nothing on it", async () => {
    const { scheduler, state, counts, routes } = cluster(
      { 'node-1': 2, 'node-2': 3, 'node-3': 3 },
      [],
      undefined,
      ['node-1'],
    );
    routes[0]!.followers = ['node-3'];
    expect(await scheduler.tick()).toEqual({ moved: '1:1', from: 'node-1', to: 'node-3', by: 'drain' });
    expect(await scheduler.tick()).toEqual({ moved: '1:2', from: 'node-1', to: 'node-2', by: 'drain' });
    expect(counts()).toEqual([0, 4, 4]);
    // Balanced without it: 3 + 3 + 2 would move one to node-1 if it took regions.
    expect(await scheduler.tick()).toEqual({ skipped: 'balanced' });
    expect(state.submitted.map((t) => t.toPeer.id)).not.toContain('node-1');
  });

  it('gives a new or returning node its share', async () => {
    const { scheduler, counts } = cluster({ 'node-1': 3, 'node-2': 3, 'node-3': 2, 'node-4': 0 });
    for (let round = 0; round < 5; round++) await scheduler.tick();
    expect(counts()).toEqual([2, 2, 2, 2]);
  });

  it('once counts are even, moves a region to even out the bytes nodes lead, keeping counts within one', async () => {
    // node-1 leads 3 × 300 MiB, node-2 3 × 10 MiB, node-3 2 × 10 MiB
    const { scheduler, state, counts } = cluster(
      { 'node-1': 3, 'node-2': 3, 'node-3': 2 },
      [],
      [300, 300, 300, 10, 10, 10, 10, 10],
    );
    expect(await scheduler.tick()).toEqual({ moved: '1:1', from: 'node-1', to: 'node-3', by: 'size' });
    expect(counts()).toEqual([2, 3, 3]);
    // node-1 (600 MiB, 2 regions) can give no more without leaving it two behind: nothing moves
    expect(await scheduler.tick()).toEqual({ skipped: 'balanced' });
    expect(state.submitted).toHaveLength(1);
  });

  it('moves no region growing by 1 MiB/s or more to even out bytes; for counts, the slowest-growing one', async () => {
    // As above, but 1:1 takes 5 MiB/s of writes: 1:2, as big, moves instead.
    const oneHot = cluster(
      { 'node-1': 3, 'node-2': 3, 'node-3': 2 },
      [],
      [300, 300, 300, 10, 10, 10, 10, 10],
      [],
      [5],
    );
    expect(await oneHot.scheduler.tick()).toEqual({ moved: '1:2', from: 'node-1', to: 'node-3', by: 'size' });
    // A region whose growth is not known yet (a split's new child) is not moved for bytes either.
    const unknown = cluster(
      { 'node-1': 3, 'node-2': 3, 'node-3': 2 },
      [],
      [300, 300, 300, 10, 10, 10, 10, 10],
      [],
      [undefined, 0.1],
    );
    expect(await unknown.scheduler.tick()).toEqual({
      moved: '1:2',
      from: 'node-1',
      to: 'node-3',
      by: 'size',
    });
    // All of node-1's big regions are hot: no move for bytes (the next, 1:3 at 0.5 MiB/s, is not hot).
    const allHot = cluster(
      { 'node-1': 3, 'node-2': 3, 'node-3': 2 },
      [],
      [300, 300, 300, 10, 10, 10, 10, 10],
      [],
      [5, 1, 2],
    );
    expect(await allHot.scheduler.tick()).toEqual({ skipped: 'balanced' });
    const oneWarm = cluster(
      { 'node-1': 3, 'node-2': 3, 'node-3': 2 },
      [],
      [300, 300, 300, 10, 10, 10, 10, 10],
      [],
      [5, 1, 0.5],
    );
    expect(await oneWarm.scheduler.tick()).toMatchObject({ moved: '1:3', by: 'size' });
    // Counts still even out with every region hot, the slowest-growing first, one not known yet last.
    const unknownLast = cluster({ 'node-1': 4, 'node-2': 0 }, [], undefined, [], [undefined, 9, 3, 20]);
    expect(await unknownLast.scheduler.tick()).toMatchObject({ moved: '1:3', by: 'count' });
    expect(await unknownLast.scheduler.tick()).toMatchObject({ moved: '1:2', by: 'count' });
    const counts = cluster({ 'node-1': 4, 'node-2': 0 }, [], undefined, [], [9, 3, 7, 8]);
    expect(await counts.scheduler.tick()).toMatchObject({ moved: '1:2', by: 'count' });
    expect(await counts.scheduler.tick()).toMatchObject({ moved: '1:3', by: 'count' });
    expect(counts.counts()).toEqual([2, 2]);
  });

  it('moves no region for a gap within the tolerance, nor one bigger than half the gap (no ping-pong)', async () => {
    // 80 vs 30 MiB: a gap of 50 MiB, under the 64 MiB floor
    const small = cluster({ 'node-1': 2, 'node-2': 1 }, [], [40, 40, 30]);
    expect(await small.scheduler.tick()).toEqual({ skipped: 'balanced' });
    // 500 vs 200 MiB, but node-1's regions are 250 MiB each: moving one would only swap the sides
    const swap = cluster({ 'node-1': 2, 'node-2': 1 }, [], [250, 250, 200]);
    expect(await swap.scheduler.tick()).toEqual({ skipped: 'balanced' });
    // 510 vs 100 MiB: the region nearest half the gap (200 of 205 MiB) moves, and that evens it out
    const moves = cluster({ 'node-1': 3, 'node-2': 2 }, [], [300, 200, 10, 50, 50]);
    expect(await moves.scheduler.tick()).toMatchObject({ moved: '1:2', by: 'size' });
    expect(await moves.scheduler.tick()).toEqual({ skipped: 'balanced' });
    expect(moves.counts()).toEqual([2, 3]);
  });

  it('moves nothing in maintenance mode, while a migration runs, or while a dead node still leads regions', async () => {
    const { scheduler, state } = cluster({ 'node-1': 6, 'node-2': 0 });
    state.maintenance = true;
    expect(await scheduler.tick()).toEqual({ skipped: 'maintenance' });
    state.maintenance = false;
    state.running = 1;
    expect(await scheduler.tick()).toEqual({ skipped: 'migrating' });
    state.running = 0;
    state.refuse = true;
    expect(await scheduler.tick()).toEqual({ skipped: 'migrating' });
    expect(state.submitted).toHaveLength(0);

    const pending = cluster({ 'node-1': 4, 'node-2': 0, 'node-3': 2 }, ['node-3']);
    expect(await pending.scheduler.tick()).toEqual({ skipped: 'failover-pending' });
    // A dead node that leads nothing does not hold balancing up, and gets nothing.
    const gone = cluster({ 'node-1': 4, 'node-2': 0, 'node-3': 0 }, ['node-3']);
    expect(await gone.scheduler.tick()).toMatchObject({ to: 'node-2' });
  });
});

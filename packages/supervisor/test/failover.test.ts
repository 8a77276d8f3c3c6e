import {
  InternalError,
  ManualTimeProvider,
  MigrationRunningError,
  RegionId,
  ServerIsBusyError,
  TableRouteNotFoundError,
  keyRange,
} from '@regionstore/core';
import { createMetricsRegistry } from '@regionstore/runtime';
import {
  LeastRegionsSelector,
  type SelectorOptions,
  MASS_FAILURE_RECOVERY_MS,
  MaintenanceModeManager,
  RegionSupervisor,
  type Peer,
  type RegionMigrationTask,
  type SupervisorEvent,
} from '@regionstore/supervisor';
import { useRedisNamespace } from '@regionstore/testing';

const redisNs = useRedisNamespace('supervisor');

const nodes: Record<string, Peer> = {
  a: { id: 'a', address: 'http://127.0.0.1:4101' },
  b: { id: 'b', address: 'http://127.0.0.1:4102' },
  c: { id: 'c', address: 'http://127.0.0.1:4103' },
};

/** The procedure side as the supervisor sees it: records submissions, answers like a real manager. */
class RecordingMigrations {
  readonly submitted: RegionMigrationTask[] = [];
  readonly migrating = new Set<string>();
  failWith: Error | undefined;

  async submit(task: RegionMigrationTask): Promise<void> {
    this.submitted.push(task);
    if (this.failWith) throw this.failWith;
    this.migrating.add(task.regionId.toString());
  }

  isMigrating(regionId: RegionId): boolean {
    return this.migrating.has(regionId.toString());
  }
}

async function setup(
  options: {
    target?: string;
    maintenance?: MaintenanceModeManager;
    /** Followers per region id, for the routes the supervisor reads. */
    followers?: Record<string, string[]>;
  } = {},
) {
  const time = new ManualTimeProvider(1_000_000);
  const metrics = createMetricsRegistry({ defaultMetrics: false });
  const channel = RegionSupervisor.channel();
  const migrations = new RecordingMigrations();
  const selections: SelectorOptions[] = [];
  const supervisor = new RegionSupervisor({
    channel,
    time,
    migrations,
    selector: {
      select: async (selection) => {
        selections.push(selection);
        return [nodes[options.target ?? 'c']!];
      },
    },
    maintenance: options.maintenance ?? { isEnabled: async () => false },
    peers: { node: async (id) => nodes[id] },
    ...(options.followers
      ? {
          routes: {
            get: async (regionId: RegionId) => ({
              regionId,
              range: keyRange(Buffer.alloc(0), Buffer.alloc(0)),
              leader: 'a',
              epoch: { version: 1, confVer: 1 },
              state: 'Normal' as const,
              followers: options.followers![regionId.toString()] ?? [],
            }),
          },
          candidates: async () =>
            Object.values(nodes).map((n) => ({ ...n, alive: n.id !== 'a', regionCount: 0 })),
        }
      : {}),
    metrics,
    // The metasrv's tuning: 500 ms heartbeats, about 2 s of tolerated silence.
    detectorOptions: { acceptableHeartbeatPauseMillis: 2000, firstHeartbeatEstimateMillis: 500 },
  });
  const running = supervisor.run();
  const send = (event: SupervisorEvent) => channel.send(event);
  /** Sends an event and waits until the loop has handled it. */
  const settle = () =>
    new Promise<void>((reply) => void channel.send({ type: 'Dump', reply: () => reply() }));
  const beat = async (nodeId: string, regions: RegionId[]) => {
    await send({ type: 'HeartbeatArrived', heartbeat: { nodeId, regions, timestampMs: time.now() } });
  };
  const tick = async () => {
    await send({ type: 'Tick' });
    await settle();
  };
  const stop = async () => {
    channel.close();
    await running;
  };
  const suppressed = async (reason: string) =>
    (await metrics.getSingleMetric('regionstore_supervisor_failover_suppressed_total')!.get()).values.find(
      (v) => v.labels.reason === reason,
    )?.value ?? 0;
  return { time, supervisor, migrations, selections, beat, tick, settle, stop, suppressed };
}

const r1 = new RegionId(1, 1);
const r2 = new RegionId(1, 2);
const r3 = new RegionId(1, 3);

/** Node a serves r1 and r2, node b serves r3; both beat every 500 ms for 10 s, then a goes silent. */
async function healthyThenSilent(env: Awaited<ReturnType<typeof setup>>) {
  for (let i = 0; i < 20; i++) {
    await env.beat('a', [r1, r2]);
    await env.beat('b', [r3]);
    await env.time.advance(500);
  }
  for (let i = 0; i < 12; i++) {
    await env.beat('b', [r3]);
    await env.time.advance(500);
  }
  await env.settle();
}

describe('RegionSupervisor failover', () => {
  it('submits exactly one migration per failed region, to the selected node, and forgets it', async () => {
    const env = await setup();
    await healthyThenSilent(env);
    expect(
      env.supervisor
        .detectRegionFailures()
        .map((r) => `${r.nodeId}/${r.regionId}`)
        .sort(),
    ).toEqual(['a/1:1', 'a/1:2']);
    await env.tick();
    await env.tick();
    expect(
      env.migrations.submitted
        .map((t) => `${t.regionId}:${t.fromPeer.id}->${t.toPeer.id}:${t.timeoutMs}`)
        .sort(),
    ).toEqual(['1:1:a->c:60000', '1:2:a->c:60000']);
    // The failed node may still look alive to the node list: the selector is told to skip it.
    expect(env.selections.map((s) => s.exclude)).toEqual([['a'], ['a']]);
    expect(env.supervisor.detectors.contains({ nodeId: 'a', regionId: r1 })).toBe(false);
    expect(env.supervisor.detectors.contains({ nodeId: 'b', regionId: r3 })).toBe(true);
    await env.stop();
  });

  it('promotes the follower that applied the most of the WAL; a region without one goes to the selected node', async () => {
    const env = await setup({ target: 'c', followers: { '1:1': ['c', 'b'], '1:2': [] } });
    // b applied more of region 1:1's WAL than c.
    for (const [node, entry] of [
      ['b', 40],
      ['c', 12],
    ] as const) {
      await env.supervisor['onHeartbeat']({
        nodeId: node,
        regions: [],
        timestampMs: env.time.now(),
        followers: [{ regionId: r1, lastEntryId: entry }],
      });
    }
    await healthyThenSilent(env);
    await env.tick();
    expect(
      env.migrations.submitted.map((t) => `${t.regionId}:${t.fromPeer.id}->${t.toPeer.id}`).sort(),
    ).toEqual(['1:1:a->b', '1:2:a->c']);
    await env.stop();
  });

  it('does nothing while every node beats', async () => {
    const env = await setup();
    for (let i = 0; i < 40; i++) {
      await env.beat('a', [r1, r2]);
      await env.beat('b', [r3]);
      await env.time.advance(500);
      if (i % 4 === 0) await env.tick();
    }
    expect(env.migrations.submitted).toEqual([]);
    await env.stop();
  });

  it('detects but does not fail over in maintenance mode (kept in Redis)', async () => {
    const redis = await redisNs.connect();
    const maintenance = new MaintenanceModeManager(redis, redisNs.key('cluster'));
    await maintenance.enable();
    expect(await maintenance.isEnabled()).toBe(true);
    const env = await setup({ maintenance });
    await healthyThenSilent(env);
    await env.tick();
    expect(env.migrations.submitted).toEqual([]);
    expect(env.supervisor.detectors.contains({ nodeId: 'a', regionId: r1 })).toBe(true);
    await maintenance.disable();
    await env.tick();
    expect(env.migrations.submitted).toHaveLength(2);
    await env.stop();
  });

  it('fails nothing over during the grace period after election, then fails over what is still silent', async () => {
    const env = await setup();
    env.supervisor.holdFailoverUntil(env.time.now() + 20_000);
    await healthyThenSilent(env);
    await env.tick();
    await env.tick();
    expect(env.migrations.submitted).toEqual([]);
    expect(await env.suppressed('grace')).toBe(2);
    for (let i = 0; i < 10; i++) {
      await env.beat('b', [r3]);
      await env.time.advance(500);
    }
    await env.tick();
    expect(env.migrations.submitted.map((t) => t.regionId.toString()).sort()).toEqual(['1:1', '1:2']);
    await env.stop();
  });

  it('fails nothing over when more than half of the nodes look failed in one tick, nor while they come back, then fails over what stays silent', async () => {
    const env = await setup();
    const r4 = new RegionId(1, 4);
    for (let i = 0; i < 20; i++) {
      await env.beat('a', [r1]);
      await env.beat('b', [r2]);
      await env.beat('c', [r3, r4]);
      await env.time.advance(500);
    }
    // a and b both go silent at once (the metasrv stalled, say): 2 of 3 nodes look failed
    for (let i = 0; i < 12; i++) {
      await env.beat('c', [r3, r4]);
      await env.time.advance(500);
    }
    await env.tick();
    await env.tick();
    expect(env.migrations.submitted).toEqual([]);
    expect(await env.suppressed('mass_failure')).toBe(2);
    expect(env.supervisor.detectors.contains({ nodeId: 'a', regionId: r1 })).toBe(true);
    // b's heartbeats flow again, a's not yet: a tick now sees a alone failed, but the silent nodes come
    // back one by one, so nothing moves for MASS_FAILURE_RECOVERY_MS after the mass failure
    const beatBC = async (ms: number) => {
      for (let t = 0; t < ms; t += 100) {
        await env.beat('b', [r2]);
        await env.beat('c', [r3, r4]);
        await env.time.advance(100);
      }
    };
    await beatBC(400);
    await env.tick();
    expect(env.migrations.submitted).toEqual([]);
    expect(await env.suppressed('mass_failure')).toBe(3);
    // a stays silent past the recovery window: a third of the nodes, it fails over
    await beatBC(MASS_FAILURE_RECOVERY_MS);
    await env.tick();
    expect(env.migrations.submitted.map((t) => `${t.regionId}:${t.fromPeer.id}`)).toEqual(['1:1:a']);
    await env.stop();
  });

  it('counts nodes that fell silent together even when their detectors cross the threshold in different ticks', async () => {
    const env = await setup();
    for (let i = 0; i < 20; i++) {
      await env.beat('a', [r1]);
      await env.beat('b', [r2]);
      await env.beat('c', [r3]);
      await env.time.advance(500);
    }
    await env.beat('b', [r2]); // b's last heartbeat comes half a second after a's
    await env.beat('c', [r3]);
    await env.time.advance(500);
    for (let i = 0; i < 60; i++) {
      await env.beat('c', [r3]);
      await env.time.advance(100);
      if (env.supervisor.detectRegionFailures().length > 0) await env.tick(); // every tick, from the first failure
    }
    expect(env.migrations.submitted).toEqual([]);
    expect(await env.suppressed('mass_failure')).toBeGreaterThan(0);
    await env.stop();
  });

  it('drops detectors of regions already migrating instead of failing them over', async () => {
    const env = await setup();
    env.migrations.migrating.add(r1.toString());
    await healthyThenSilent(env);
    await env.tick();
    expect(env.migrations.submitted.map((t) => t.regionId.toString())).toEqual(['1:2']);
    expect(env.supervisor.detectors.contains({ nodeId: 'a', regionId: r1 })).toBe(false);
    await env.stop();
  });

  it('skips when the only target is the failed node itself', async () => {
    const env = await setup({ target: 'a' });
    await healthyThenSilent(env);
    await env.tick();
    expect(env.migrations.submitted).toEqual([]);
    await env.stop();
  });

  it.each([
    ['MigrationRunning', false, new MigrationRunningError('already moving')],
    ['TableRouteNotFound', false, new TableRouteNotFoundError('dropped')],
    ['another error', true, new InternalError('procedure store down')],
  ])('after %s, the detector is kept: %s', async (_name, kept, error) => {
    const env = await setup();
    env.migrations.failWith = error;
    await healthyThenSilent(env);
    await env.tick();
    expect(env.supervisor.detectors.contains({ nodeId: 'a', regionId: r1 })).toBe(kept);
    await env.stop();
  });
});

describe('LeastRegionsSelector', () => {
  it('picks alive nodes with the fewest regions first', async () => {
    const selector = new LeastRegionsSelector(async () => [
      { ...nodes.a!, alive: true, regionCount: 5 },
      { ...nodes.b!, alive: false, regionCount: 0 },
      { ...nodes.c!, alive: true, regionCount: 2 },
    ]);
    expect(
      (await selector.select({ minRequiredItems: 1, allowDuplication: false })).map((p) => p.id),
    ).toEqual(['c']);
    expect(
      (await selector.select({ minRequiredItems: 2, allowDuplication: false })).map((p) => p.id),
    ).toEqual(['c', 'a']);
    await expect(selector.select({ minRequiredItems: 3, allowDuplication: false })).rejects.toThrow(
      ServerIsBusyError,
    );
    expect((await selector.select({ minRequiredItems: 3, allowDuplication: true })).map((p) => p.id)).toEqual(
      ['c', 'a', 'c'],
    );
    await expect(
      new LeastRegionsSelector(async () => []).select({ minRequiredItems: 1, allowDuplication: false }),
    ).rejects.toThrow(/no alive node/);
    // A node excluded (the failed one, still counted alive) is never picked.
    expect(
      (await selector.select({ minRequiredItems: 1, allowDuplication: false, exclude: ['c'] })).map(
        (p) => p.id,
      ),
    ).toEqual(['a']);
    // Nor is a drained one, however few regions it serves, unless no other node is left.
    const draining = new LeastRegionsSelector(async () => [
      { ...nodes.a!, alive: true, regionCount: 5 },
      { ...nodes.c!, alive: true, regionCount: 0, drained: true },
    ]);
    expect(
      (await draining.select({ minRequiredItems: 1, allowDuplication: false })).map((p) => p.id),
    ).toEqual(['a']);
    expect(
      (await draining.select({ minRequiredItems: 1, allowDuplication: false, exclude: ['a'] })).map(
        (p) => p.id,
      ),
    ).toEqual(['c']);
  });
});

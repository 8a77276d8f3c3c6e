import { RegionStoreClient } from '@regionstore/client';
import { freePort, useCluster } from './cluster';

const clusters = useCluster('e2e-failover');

const key = (i: number) => Buffer.from([i % 256, ...Buffer.from(`-key-${i}`)]);
const value = (i: number, round: string) => Buffer.from(`${round}-value-${i}`);

describe('a running cluster', () => {
  it('serves writes and reads, survives kill -9 of a storage node with every acknowledged write, and keeps serving', async () => {
    const cluster = await clusters.start({ nodes: 3 });
    const client = new RegionStoreClient({ metasrv: cluster.metasrvUrl, retryTimeoutMs: 60_000 });

    const routes = await cluster.routes();
    expect(routes).toHaveLength(8);
    expect(new Set(routes.map((r) => r.leader)).size).toBe(3);

    for (let i = 0; i < 300; i++) await client.put(key(i), value(i, 'first'));
    await client.delete(key(7));
    // 10,000 more keys in batches (the client splits each batch by region), read back from the leaders
    const bulkKey = (i: number) => Buffer.from(`bulk-${String(i).padStart(5, '0')}`);
    for (let i = 0; i < 10_000; i += 500) {
      await client.write(
        Array.from({ length: 500 }, (_, j) => ({
          op: 'put' as const,
          key: bulkKey(i + j),
          value: bulkKey(i + j),
        })),
      );
    }
    const bulk = await client.batchGet(Array.from({ length: 10_000 }, (_, i) => bulkKey(i)));
    expect(bulk.filter((v, i) => !v?.equals(bulkKey(i)))).toHaveLength(0);
    let paged = 0;
    for await (const entry of client.iterate({
      start: Buffer.from('bulk-'),
      end: Buffer.from('bulk.'),
      pageSize: 700,
    })) {
      expect(entry.key.equals(bulkKey(paged))).toBe(true);
      paged++;
    }
    expect(paged).toBe(10_000);
    const got = await client.batchGet([key(1), key(7), key(200)]);
    expect(got.map((v) => v?.toString())).toEqual([
      value(1, 'first').toString(),
      undefined,
      value(200, 'first').toString(),
    ]);
    const scanned = (await client.scan({ limit: 20_000 })).filter(
      (e) => !e.key.toString().startsWith('bulk-'),
    );
    expect(scanned).toHaveLength(299);
    expect(scanned.map((e) => e.key.toString('hex'))).toEqual(
      [...scanned.map((e) => e.key.toString('hex'))].sort(),
    );
    const lastFive = await client.scan({ limit: 5, reverse: true });
    const everything = await client.scan({ limit: 20_000 });
    expect(lastFive.map((e) => e.key.toString('hex'))).toEqual(
      everything
        .slice(-5)
        .reverse()
        .map((e) => e.key.toString('hex')),
    );

    // kill -9 the node leading region 1:1, while writes keep coming
    const victim = routes.find((r) => r.regionId === '1:1')!.leader;
    const victimRegions = routes.filter((r) => r.leader === victim).map((r) => r.regionId);
    const killedAt = Date.now();
    await cluster.kill(victim, 'SIGKILL');
    const during = [];
    for (let i = 300; i < 340; i++) during.push(client.put(key(i), value(i, 'during')));
    await Promise.all(during); // the client retries through the failover

    const moved = await cluster.waitFor(
      async () => {
        const now = await cluster.routes();
        return now.every((r) => r.leader !== victim) ? now : undefined;
      },
      'the dead node’s regions to move',
      60_000,
    );
    console.log(
      `failover: kill -9 of ${victim} → all its regions led elsewhere in ${((Date.now() - killedAt) / 1000).toFixed(1)} s`,
    );
    for (const regionId of victimRegions) {
      const route = moved!.find((r) => r.regionId === regionId)!;
      expect(route.epoch.confVer).toBeGreaterThan(1); // a new placement epoch: the old leader is fenced out
    }

    const all = await client.batchGet(Array.from({ length: 340 }, (_, i) => key(i)));
    all.forEach((v, i) => {
      if (i === 7) expect(v).toBeUndefined();
      else expect(v?.toString()).toBe(value(i, i < 300 ? 'first' : 'during').toString());
    });
    for (let i = 0; i < 20; i++) await client.put(key(i), value(i, 'after'));
    expect((await client.get(key(3)))?.toString()).toBe(value(3, 'after').toString());

    // Failure detection (about 2 s) may move the regions before the status counts the node dead
    // (`nodeDeadAfterMs`, 3 s after its last heartbeat): it does within seconds.
    await cluster.waitFor(
      async () => {
        const status = (await client.status()) as { nodes: Array<{ id: string; state: string }> };
        return status.nodes.find((n) => n.id === victim)?.state === 'dead';
      },
      `${victim} to count as dead`,
      10_000,
    );

    // What an operator's Prometheus sees: the failover, the migrations it ran, the nodes, the leader.
    /** The value of the series `name` whose labels include `labels` (e.g. 'status="Done"'). */
    const sample = (text: string, name: string, labels = '') =>
      Number(text.match(new RegExp(`^${name}\\{[^}]*${labels}[^}]*\\} (\\S+)$`, 'm'))?.[1]);
    // The routes name the new leaders a step before each migration ends.
    const metasrvMetrics = (await cluster.waitFor(
      async () => {
        const text = await (await fetch(`${cluster.metasrvUrl}/metrics`)).text();
        const done = sample(text, 'regionstore_supervisor_migrations_total', 'status="Done"');
        return done >= victimRegions.length ? text : undefined;
      },
      'the failover migrations to end',
      30_000,
    ))!;
    expect(sample(metasrvMetrics, 'regionstore_supervisor_failovers_total')).toBeGreaterThanOrEqual(
      victimRegions.length,
    );
    expect(sample(metasrvMetrics, 'regionstore_metasrv_nodes', 'state="dead"')).toBe(1);
    expect(sample(metasrvMetrics, 'regionstore_metasrv_leader')).toBe(1);
    expect(sample(metasrvMetrics, 'regionstore_metasrv_region_leaders', `node="${victim}"`)).toBe(0);
    const ready = await fetch(`${cluster.metasrvUrl}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', isLeader: true });
    const survivor = moved!.find((r) => r.leader !== victim)!;
    const nodeMetrics = await (await fetch(`${survivor.address}/metrics`)).text();
    expect(
      sample(
        nodeMetrics,
        'regionstore_storage_node_request_duration_seconds_count',
        'operation="write",outcome="ok"',
      ),
    ).toBeGreaterThan(0);
    await cluster.stop();
  });
});

describe('metasrv standby', () => {
  it('takes over when the leader metasrv is killed, then handles the next node failure', async () => {
    const cluster = await clusters.start({ nodes: 2, initialRegions: 2 });
    const standbyPort = await freePort();
    cluster.startMetasrv('metasrv-2', standbyPort);
    const standby = `http://127.0.0.1:${standbyPort}`;
    const status = async (url: string) =>
      (await (await fetch(`${url}/admin/status`)).json()) as { leader: string };
    await cluster.waitFor(
      async () => (await status(standby)).leader === 'metasrv-1',
      'the standby to answer',
      30_000,
    );

    await cluster.kill('metasrv-1', 'SIGKILL');
    await cluster.waitFor(
      async () => (await status(standby)).leader === 'metasrv-2',
      'the standby to win the lease',
      30_000,
    );

    const client = new RegionStoreClient({ metasrv: standby, retryTimeoutMs: 60_000 });
    await client.put(Buffer.from([0x10, 1]), Buffer.from('before'));
    const routes = await client.routes(true);
    const victim = routes[0]!.leader;
    await cluster.kill(victim, 'SIGKILL');
    await cluster.waitFor(
      async () => (await client.routes(true)).every((r) => r.leader !== victim),
      'the new leader metasrv to fail the node over',
      60_000,
    );
    expect((await client.get(Buffer.from([0x10, 1])))?.toString()).toBe('before');
  });
});

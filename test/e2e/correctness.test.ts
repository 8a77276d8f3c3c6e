import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RegionStoreClient } from '@regionstore/client';
import { useCluster, type Cluster, type RouteJson } from './cluster';

// The four ways issue #15 found to lose acknowledged writes or read stale data, each as a user would
// meet it on a local cluster.
const clusters = useCluster('e2e-correctness');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A key in region 1:n of the 8 bootstrap regions (split evenly by first byte). */
const keyIn = (region: number, name: string) => Buffer.from([region * 32 + 1, ...Buffer.from(name)]);

function client(cluster: Cluster) {
  return new RegionStoreClient({ metasrv: cluster.metasrvUrl, retryTimeoutMs: 60_000 });
}

async function migrate(cluster: Cluster, regionId: string, to: string): Promise<void> {
  const started = (await client(cluster).admin('/admin/migrate', { regionId, to })) as {
    procedureId: string;
  };
  await cluster.waitFor(
    async () => {
      const state = (await client(cluster).admin(`/admin/procedures/${started.procedureId}`)) as {
        status: string;
      };
      if (state.status === 'Running') return undefined;
      if (state.status !== 'Done') throw new Error(`migration ended ${state.status}`);
      return true;
    },
    `migration of ${regionId} to ${to}`,
    60_000,
  );
}

const placement = (routes: RouteJson[]) =>
  routes.map((r) => `${r.regionId}@${r.leader}#${r.epoch.confVer}`).sort();

describe('correctness under moves, restarts and pauses', () => {
  it('keeps every write of a region moved away and back', async () => {
    // Stale ranges cleaned every tick (1 s) instead of every 10, so the wait below sees a few rounds.
    const cluster = await clusters.start({ nodeEnv: { REGIONSTORE_REGION_RUNNER__CLEAN_STALE_TICK: '1' } });
    const kv = client(cluster);
    const route = (await cluster.routes()).find((r) => r.regionId === '1:3')!;
    const home = route.leader;
    const away = ['node-1', 'node-2', 'node-3'].find((n) => n !== home)!;
    await kv.put(keyIn(3, 'hello'), Buffer.from('world'));
    await migrate(cluster, '1:3', away);
    await kv.put(keyIn(3, 'hello2'), Buffer.from('v2'));
    await migrate(cluster, '1:3', home);
    await kv.put(keyIn(3, 'hello3'), Buffer.from('v3'));
    // the deletion registered when the region left runs on the node's timer: give it time to (not) fire
    await sleep(3_500);
    const got = await kv.batchGet([keyIn(3, 'hello'), keyIn(3, 'hello2'), keyIn(3, 'hello3')]);
    expect(got.map((v) => v?.toString())).toEqual(['world', 'v2', 'v3']);
    expect((await cluster.routes()).find((r) => r.regionId === '1:3')!.leader).toBe(home);
  });

  it.each<[NodeJS.Signals, string]>([
    ['SIGTERM', 'Ctrl-C'],
    ['SIGKILL', 'a power cut'],
  ])(
    'serves every region with all its data soon after a whole-cluster restart (%s, %s), with no failover',
    async (signal) => {
      const cluster = await clusters.start();
      const kv = client(cluster);
      const keys = Array.from({ length: 64 }, (_, i) => keyIn(i % 8, `restart-${i}`));
      for (const [i, key] of keys.entries()) await kv.put(key, Buffer.from(`v${i}`));
      const before = placement(await cluster.routes());

      await cluster.restart(signal);
      const restartedAt = Date.now();
      const fresh = new RegionStoreClient({ metasrv: cluster.metasrvUrl, retryTimeoutMs: 5_000 });
      const served = await cluster.waitFor(
        async () => {
          const got = await fresh.batchGet(keys);
          return got.every((v, i) => v?.toString() === `v${i}`) ? Date.now() - restartedAt : undefined;
        },
        'every region to serve its data again',
        30_000,
      );
      console.log(`whole-cluster restart (${signal}): every region served all its data after ${served} ms`);
      // the issue asks for 10 s; room for a loaded CI machine starting four processes
      expect(served).toBeLessThan(15_000);
      await sleep(8_000); // past the failover grace period: still nothing moves
      expect(placement(await cluster.routes())).toEqual(before);
      // No failover began. Failures seen within the grace period after election are what the grace
      // is for (nodes of a loaded machine replaying their WALs), and are logged as such.
      const log = readFileSync(join(cluster.dir, 'metasrv-1.log'), 'utf8');
      expect(log).not.toMatch(/"msg":"region failures detected"/);
    },
  );

  it('fails nothing over when most nodes look dead at once (the metasrv is the likelier culprit)', async () => {
    const cluster = await clusters.start();
    const kv = client(cluster);
    await kv.put(keyIn(1, 'mass'), Buffer.from('kept'));
    const before = placement(await cluster.routes());
    // Two of three nodes fall silent together (as when the metasrv itself stalls under load): without
    // the guard every one of their regions would pile onto the third node.
    for (const node of ['node-1', 'node-2']) cluster.signal(node, 'SIGSTOP');
    await sleep(7_000);
    for (const node of ['node-1', 'node-2']) cluster.signal(node, 'SIGCONT');
    await sleep(3_000);
    expect(placement(await cluster.routes())).toEqual(before);
    expect((await kv.get(keyIn(1, 'mass')))?.toString()).toBe('kept');
    const metrics = await (await fetch(`${cluster.metasrvUrl}/metrics`)).text();
    expect(metrics).toMatch(
      /regionstore_supervisor_failover_suppressed_total\{[^}]*reason="mass_failure"[^}]*\} [1-9]/,
    );
  });

  it('never answers a read from a paused old leader after its region failed over', async () => {
    const cluster = await clusters.start();
    const key = keyIn(5, 'paused');
    const warm = client(cluster); // its route cache still names the old leader after the pause
    await warm.put(key, Buffer.from('old'));
    expect((await warm.get(key))?.toString()).toBe('old');
    const old = (await cluster.routes()).find((r) => r.regionId === '1:5')!;

    cluster.signal(old.leader, 'SIGSTOP');
    const stoppedAt = Date.now();
    await cluster.waitFor(
      async () => (await cluster.routes()).find((r) => r.regionId === '1:5' && r.leader !== old.leader),
      'region 1:5 to fail over',
      30_000,
    );
    await client(cluster).put(key, Buffer.from('new')); // acknowledged by the new leader
    await sleep(Math.max(0, 8_000 - (Date.now() - stoppedAt)));
    cluster.signal(old.leader, 'SIGCONT');

    // straight to the resumed node, as a client with a stale route would go
    const direct = await fetch(`${old.address}/v1/get`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ regionId: '1:5', key: key.toString('base64') }),
    });
    const body = (await direct.json()) as { code?: string; value?: string | null };
    // NotLeader (its lease ran out), or RegionNotFound once the metasrv has closed it there: never data
    expect(body.value).toBeUndefined();
    expect(['NotLeader', 'RegionNotFound']).toContain(body.code);
    expect((await warm.get(key))?.toString()).toBe('new');
  });
});

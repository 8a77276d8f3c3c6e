import { RegionStoreClient } from '@regionstore/client';
import { useCluster, type Cluster } from './cluster';

const clusters = useCluster('balance');

/** Regions led per alive node, once no migration is left to run (balanced or not). */
async function spread(cluster: Cluster): Promise<Record<string, number>> {
  const status = (await (await fetch(`${cluster.metasrvUrl}/admin/status`)).json()) as {
    nodes: Array<{ id: string; state: string }>;
  };
  const routes = await cluster.routes();
  return Object.fromEntries(
    status.nodes
      .filter((n) => n.state === 'alive')
      .map((n) => [n.id, routes.filter((r) => r.leader === n.id).length]),
  );
}

const withinOne = (counts: Record<string, number>) =>
  Math.max(...Object.values(counts)) - Math.min(...Object.values(counts)) <= 1;

describe('region balancing', () => {
  it('spreads regions again after a node returns, and gives a new node its share, losing no write', async () => {
    const cluster = await clusters.start({ nodes: 3 });
    const client = new RegionStoreClient({ metasrv: cluster.metasrvUrl, retryTimeoutMs: 60_000 });
    const key = (i: number) => Buffer.from([i % 256, i >> 8]);
    for (let i = 0; i < 512; i++) await client.put(key(i), Buffer.from(`v${i}`));

    // kill -9 node-3: its regions fail over to the other two
    await cluster.kill('node-3', 'SIGKILL');
    await cluster.waitFor(
      async () => (await cluster.routes()).every((r) => r.leader !== 'node-3'),
      'the failover off node-3',
      60_000,
    );
    // it comes back empty; balancing moves regions to it until every node is within one
    cluster.startNode(3);
    const back = await cluster.waitFor(
      async () => {
        const counts = await spread(cluster);
        return Object.keys(counts).length === 3 && counts['node-3']! > 0 && withinOne(counts)
          ? counts
          : undefined;
      },
      'regions to spread over three nodes again',
      120_000,
    );
    expect(Object.values(back!).sort()).toEqual([2, 3, 3]);

    // a fourth node joins and gets its share: 8 regions, 2 each
    cluster.startNode(4);
    await cluster.waitFor(
      async () => {
        const counts = await spread(cluster);
        return Object.keys(counts).length === 4 && Object.values(counts).every((c) => c === 2);
      },
      'regions to spread over four nodes',
      120_000,
    );
    const metrics = await (await fetch(`${cluster.metasrvUrl}/metrics`)).text();
    expect(
      Number(
        metrics.match(/^regionstore_supervisor_balance_rounds_total\{result="moved"[^}]*\} (\d+)$/m)?.[1],
      ),
    ).toBeGreaterThanOrEqual(4);
    // every write survived the moves
    const values = await client.batchGet(Array.from({ length: 512 }, (_, i) => key(i)));
    expect(values.filter((v, i) => v?.toString() !== `v${i}`)).toHaveLength(0);
    await client.close();
    await cluster.stop();
  });

  it('drains a node (regionctl node drain): its regions and followers move away under writes; undrained, it takes its share again', async () => {
    const cluster = await clusters.start({ nodes: 3 });
    const client = new RegionStoreClient({ metasrv: cluster.metasrvUrl, retryTimeoutMs: 60_000 });
    const admin = async (path: string) => {
      const response = await fetch(`${cluster.metasrvUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    await cluster.waitFor(
      async () => (await cluster.routes()).every((r) => r.followers.length > 0),
      'every region to have a follower',
      60_000,
    );
    const holds = async (node: string) =>
      (await cluster.routes()).filter((r) => r.leader === node || r.followers.some((f) => f.id === node))
        .length;
    expect(await holds('node-1')).toBeGreaterThan(0);
    let writing = true;
    const acked = new Map<number, string>();
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        await client.put(Buffer.from([i % 256, 0xdd, i >> 8]), Buffer.from(`d${i}`));
        acked.set(i, `d${i}`);
      }
    })();
    try {
      expect((await admin('/admin/nodes/node-9/drain')).status).toBe(404);
      const drained = await admin('/admin/nodes/node-1/drain');
      expect(drained).toMatchObject({ status: 200, body: { node: 'node-1', drained: true } });
      await cluster.waitFor(
        async () => (await holds('node-1')) === 0 || undefined,
        'no route to name node-1, as leader or follower',
        120_000,
      );
      // …and the node closed its copies once no route named them there.
      await cluster.waitFor(
        async () => {
          const status = (await (await fetch(`${cluster.metasrvUrl}/admin/status`)).json()) as {
            nodes: Array<{ id: string; regions: number; drained: boolean }>;
          };
          const node = status.nodes.find((n) => n.id === 'node-1');
          return (node?.drained && node.regions === 0) || undefined;
        },
        'node-1 to hold no region',
        60_000,
      );
      expect((await cluster.routes()).every((r) => r.followers.length > 0)).toBe(true);
      expect((await admin('/admin/nodes/node-1/undrain')).body).toMatchObject({ drained: false });
      await cluster.waitFor(
        async () => (await spread(cluster))['node-1']! > 0 || undefined,
        'balancing to give node-1 regions again',
        120_000,
      );
    } finally {
      writing = false;
      await writer;
    }
    expect(acked.size).toBeGreaterThan(50);
    for (const [i, value] of acked)
      expect((await client.get(Buffer.from([i % 256, 0xdd, i >> 8])))?.toString()).toBe(value);
    await client.close();
    await cluster.stop();
  });
});

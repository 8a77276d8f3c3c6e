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
});

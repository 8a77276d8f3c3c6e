import { RegionStoreClient } from '@regionstore/client';
import { spread, useCluster, type Cluster, type RouteJson } from './cluster';

const clusters = useCluster('e2e-followers');

const everyRegionFollowed = (routes: RouteJson[], alive: Set<string>) =>
  routes.every(
    (r) => r.followers.length === 1 && r.followers[0]!.id !== r.leader && alive.has(r.followers[0]!.id),
  );

/** The routes once every region has a follower on an `alive` node other than its leader's. */
const followed = (cluster: Cluster, alive: Set<string>) =>
  cluster.waitFor(
    async () => {
      const routes = await cluster.routes();
      return everyRegionFollowed(routes, alive) ? routes : undefined;
    },
    'a follower for every region',
    60_000,
  );

describe('followers (replicas 2)', () => {
  it('every region gets a follower on another node; kill -9 of a leader promotes them with every acknowledged write; new followers are built', async () => {
    const cluster = await clusters.start({ nodes: 3 });
    const client = new RegionStoreClient({ metasrv: cluster.metasrvUrl, retryTimeoutMs: 60_000 });
    try {
      const all = new Set(['node-1', 'node-2', 'node-3']);
      const keys = spread('followed', 400);
      await client.write(
        keys.map((key) => ({ op: 'put', key, value: Buffer.from(`v1-${key.toString('hex')}`) })),
      );
      const placed = await followed(cluster, all);
      // Writes after the followers opened reach them through the WAL alone.
      await client.write(
        keys.map((key) => ({ op: 'put', key, value: Buffer.from(`v2-${key.toString('hex')}`) })),
      );

      // Follower reads at a ts: never a value newer than the ts, never one older than a write
      // acknowledged at or below it.
      const counter = Buffer.from('counter');
      const commits: bigint[] = [];
      for (let i = 0; i < 30; i++) commits.push((await client.put(counter, Buffer.from(String(i)))).commitTs);
      for (let i = 0; i < 30; i++) {
        for (const ts of [commits[i]!, commits[i]! + 1n]) {
          const seen = await client.get(counter, { ts, readFrom: 'follower' });
          expect(seen?.toString()).toBe(String(i));
        }
      }
      expect(await client.get(counter, { ts: commits[0]! - 1n, readFrom: 'follower' })).toBeUndefined();
      // Without a ts, a follower answers at its safe ts: a value some write put there, soon the last.
      await cluster.waitFor(
        async () => (await client.get(counter, { readFrom: 'follower' }))?.toString() === '29' || undefined,
        'the follower read to reach the last write',
        10_000,
      );

      const victim = placed!.find((r) => r.regionId === '1:1')!.leader;
      const led = placed!.filter((r) => r.leader === victim);
      const killedAt = Date.now();
      await cluster.kill(victim, 'SIGKILL');
      const during = keys.slice(0, 50).map((key) => client.put(key, Buffer.from('during')));
      await Promise.all(during);
      const moved = await cluster.waitFor(
        async () => {
          const now = await cluster.routes();
          return now.every((r) => r.leader !== victim) ? now : undefined;
        },
        'the dead node’s regions to move',
        60_000,
      );
      console.log(
        `followers: kill -9 of ${victim} → its ${led.length} regions led elsewhere in ${((Date.now() - killedAt) / 1000).toFixed(1)} s`,
      );
      // Each of the dead node's regions is now led by the node that followed it.
      for (const before of led) {
        const after = moved!.find((r) => r.regionId === before.regionId)!;
        expect(after.leader).toBe(before.followers[0]!.id);
        expect(after.epoch.confVer).toBeGreaterThan(before.epoch.confVer);
      }
      const got = await client.batchGet(keys);
      got.forEach((v, i) => expect(v?.toString()).toBe(i < 50 ? 'during' : `v2-${keys[i]!.toString('hex')}`));
      // Two nodes left: every region is followed again, on the other one.
      const alive = new Set([...all].filter((n) => n !== victim));
      await followed(cluster, alive);
    } finally {
      await client.close();
    }
  });

  it("a planned move onto the follower's node keeps the old leader as the follower, following later writes", async () => {
    const cluster = await clusters.start({ nodes: 3 });
    const client = new RegionStoreClient({ metasrv: cluster.metasrvUrl, retryTimeoutMs: 60_000 });
    try {
      const all = new Set(['node-1', 'node-2', 'node-3']);
      const keys = spread('moved', 100);
      await client.write(keys.map((key) => ({ op: 'put', key, value: Buffer.from('v1') })));
      const placed = await followed(cluster, all);
      const before = placed!.find((r) => r.regionId === '1:1')!;
      const follower = before.followers[0]!.id;
      await client.admin('/admin/migrate', { regionId: '1:1', to: follower });
      // The route that names the new leader names the old one as its follower in the same update:
      // no moment without a follower (a new one would take the replica checker a load from the
      // object store).
      const after = await cluster.waitFor(
        async () => (await cluster.routes()).find((r) => r.regionId === '1:1' && r.leader === follower),
        'the move onto the follower',
        30_000,
      );
      expect(after!.followers.map((f) => f.id)).toEqual([before.leader]);
      // The old leader's copy follows the WAL: a write after the move reaches a follower read.
      const { start, end } = before as RouteJson & { start: string; end: string };
      const key = keys.find(
        (k) =>
          Buffer.compare(k, Buffer.from(start, 'base64')) >= 0 &&
          (end === '' || Buffer.compare(k, Buffer.from(end, 'base64')) < 0),
      );
      expect(key).toBeDefined();
      await client.put(key!, Buffer.from('after the move'));
      await cluster.waitFor(
        async () =>
          (await client.get(key!, { readFrom: 'follower' }))?.toString() === 'after the move' || undefined,
        'the old leader, now following, to serve the write made after the move',
        10_000,
      );
    } finally {
      await client.close();
    }
  });
});

import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { RegionStoreClient } from '@regionstore/client';
import { RegionId, composeTimestamp } from '@regionstore/core';
import { walKeys } from '@regionstore/log-store';
import { createRedis, waitForRedis } from '@regionstore/runtime';
import { testRedisUrl } from '@regionstore/testing';
import { useCluster, type RouteJson } from './cluster';
import { loadKey, missing, writeLoad } from './write-load';

const clusters = useCluster('e2e-split');
const CLI_MAIN = join(resolve(__dirname, '../..'), 'apps/cli/dist/main.js');
const run = promisify(execFile);

describe('region split', () => {
  it('splits a region under writes (regionctl region split): every acknowledged write is kept, each half takes writes on its own', async () => {
    const cluster = await clusters.start({ nodes: 3 });
    const client = new RegionStoreClient({ metasrv: cluster.metasrvUrl, retryTimeoutMs: 60_000 });
    const load = writeLoad(cluster, 4);
    try {
      await new Promise((r) => setTimeout(r, 1500));
      const before = await cluster.routes();
      const parent = before.find((r) => r.regionId === '1:2')!; // keys 0x40‥0x60
      // Clients that cached the routes from before the split
      const stale = [0, 1, 2, 3].map(
        () => new RegionStoreClient({ metasrv: cluster.metasrvUrl, retryTimeoutMs: 10_000 }),
      );
      const [staleWriter, staleReader, staleScanner, staleReverse] = stale;
      await Promise.all(stale.map((c) => c.routes()));
      // The first byte walks the key space: 0x50 is inside the parent and the load writes on both sides.
      const cli = await run(
        process.execPath,
        [CLI_MAIN, '--metasrv', cluster.metasrvUrl, '--json', 'region', 'split', '1:2', '--key', 'P'],
        { encoding: 'utf8' },
      );
      const record = JSON.parse(cli.stdout) as { status: string; context: { childId: string } };
      expect(record.status).toBe('Done');
      const child = record.context.childId;
      expect(child).toBe('1:8'); // the next id after the bootstrap's 1:0‥1:7

      const after = await cluster.routes();
      expect(after).toHaveLength(before.length + 1);
      const parentAfter = after.find((r) => r.regionId === '1:2')! as typeof parent & {
        start: string;
        end: string;
      };
      const childAfter = after.find((r) => r.regionId === child)! as typeof parent & {
        start: string;
        end: string;
      };
      expect(Buffer.from(parentAfter.end, 'base64').toString()).toBe('P');
      expect(Buffer.from(childAfter.start, 'base64').toString()).toBe('P');
      expect(Buffer.from(childAfter.end, 'base64')).toEqual(Buffer.from([0x60]));
      expect(parentAfter.epoch.version).toBe(parent.epoch.version + 1);
      expect(childAfter.leader).toBe(parent.leader);

      // A batch written and read by clients with routes from before the split spans both halves:
      // each splits it again by the new routes, rather than retrying the whole against one half.
      await staleWriter!.write([
        { op: 'put', key: Buffer.from('O-stale'), value: Buffer.from('left') },
        { op: 'put', key: Buffer.from('P-stale'), value: Buffer.from('right') },
      ]);
      const read = await staleReader!.batchGet([Buffer.from('O-stale'), Buffer.from('P-stale')]);
      expect(read.map((v) => v?.toString())).toEqual(['left', 'right']);
      // Scans by such clients go on past the parent's new end into the child, either way round.
      const across = { start: Buffer.from('O-stale'), end: Buffer.from('P-stale!') };
      // (the load's keys with first byte 'O' fall in between)
      const keysOf = (pairs: Array<{ key: Buffer }>) =>
        pairs.map((p) => p.key.toString()).filter((k) => k.endsWith('-stale'));
      expect(keysOf(await staleScanner!.scan(across))).toEqual(['O-stale', 'P-stale']);
      expect(keysOf(await staleReverse!.scan({ ...across, reverse: true }))).toEqual(['P-stale', 'O-stale']);
      await Promise.all(stale.map((c) => c.close()));

      // Writes go on through the split; each half takes its own.
      await new Promise((r) => setTimeout(r, 1000));
      const acked = await load.stop();
      expect(await missing(cluster, acked)).toEqual([]);
      const inChild = [...acked.keys()].filter(
        (i) => loadKey(i).compare(Buffer.from('P')) >= 0 && loadKey(i)[0]! < 0x60,
      );
      expect(inChild.length).toBeGreaterThan(0);
      await client.put(Buffer.from('P-after'), Buffer.from('child'));
      await client.put(Buffer.from('O-after'), Buffer.from('parent'));
      expect((await client.get(Buffer.from('P-after')))?.toString()).toBe('child');
      expect((await client.get(Buffer.from('O-after')))?.toString()).toBe('parent');
      // A scan across the boundary meets both halves, in order.
      const scanned = [];
      for await (const kv of client.iterate({ start: Buffer.from('O'), end: Buffer.from('Q') }))
        scanned.push(kv.key.toString());
      expect(scanned).toEqual(expect.arrayContaining(['O-after', 'P-after']));
      // The halves fail over like any region: kill -9 of their leader moves both within seconds.
      const killedAt = Date.now();
      await cluster.kill(parent.leader, 'SIGKILL');
      await cluster.waitFor(
        async () => {
          const routes = await cluster.routes();
          return routes.every((r) => r.leader !== parent.leader) || undefined;
        },
        'both halves to fail over',
        60_000,
      );
      const failoverMs = Date.now() - killedAt;
      console.log(`split: both halves led elsewhere ${failoverMs} ms after kill -9 of ${parent.leader}`);
      expect(await missing(cluster, acked)).toEqual([]);
      expect((await client.get(Buffer.from('P-after')))?.toString()).toBe('child');
      // Both halves get followers again (the replica checker).
      await cluster.waitFor(
        async () => {
          const routes = await cluster.routes();
          return (
            [routes.find((r) => r.regionId === '1:2'), routes.find((r) => r.regionId === child)].every(
              (r) => r && r.followers.length === 1,
            ) || undefined
          );
        },
        'followers for both halves',
        60_000,
      );
    } finally {
      await load.stop();
      await client.close();
    }
  });
});

describe('a split whose leader stops half-way', () => {
  it('is abandoned once its stopped leader is dead past the deadline: no acknowledged write is lost, the whole range takes writes', async () => {
    const cluster = await clusters.start({
      nodes: 3,
      // The leader waits between its local split and the flushes; it is stopped (SIGSTOP) meanwhile.
      nodeEnv: { REGIONSTORE_FAILPOINTS: 'region_split_before_flush=delay(8000)' },
    });
    const client = new RegionStoreClient({ metasrv: cluster.metasrvUrl, retryTimeoutMs: 60_000 });
    const load = writeLoad(cluster, 4);
    const redis = createRedis(testRedisUrl(), 'client');
    let stopped: string | undefined;
    try {
      await new Promise((r) => setTimeout(r, 1500));
      const parent = (await cluster.routes()).find((r) => r.regionId === '1:2')!; // keys 0x40‥0x60
      const { procedureId } = (await client.admin('/admin/split', {
        regionId: '1:2',
        key: Buffer.from('P').toString('base64'),
        timeoutMs: 2000,
      })) as { procedureId: string };
      const procedure = async () => {
        const reply = await fetch(`${cluster.metasrvUrl}/admin/procedures/${procedureId}`);
        return (await reply.json()) as {
          status: string;
          error?: string;
          fencedOut?: boolean;
          context: { childId?: string };
        };
      };
      const child = (await cluster.waitFor(
        async () => (await procedure()).context.childId,
        'the child id',
        30_000,
      ))!;
      // Split on its node (the child's WAL is fenced to it), and waiting before its flushes.
      const childWal = walKeys(cluster.prefix, RegionId.parse(child));
      await cluster.waitFor(
        async () => (await redis.hget(childWal.meta, 'node')) ?? undefined,
        'the node to split',
        30_000,
      );
      stopped = parent.leader;
      cluster.signal(stopped, 'SIGSTOP');
      const ended = await cluster.waitFor(
        async () => {
          const state = await procedure();
          return state.status === 'Running' ? undefined : state;
        },
        'the split to end',
        60_000,
      );
      // Judged minutes before the node job's own timeout: cut off first, then abandoned.
      expect(ended).toMatchObject({
        status: 'Aborted',
        fencedOut: true,
        error: expect.stringMatching(/died before/),
      });
      const oldLeader = stopped;
      cluster.signal(stopped, 'SIGCONT'); // its split goes on, and finds the child retired
      stopped = undefined;
      const after = (await cluster.routes()).find((r) => r.regionId === '1:2')! as RouteJson & {
        start: string;
        end: string;
      };
      expect(after.end).toBe(Buffer.from([0x60]).toString('base64')); // the whole range
      expect(after.epoch.version).toBe(parent.epoch.version);
      expect(after.epoch.confVer).toBeGreaterThan(parent.epoch.confVer);
      expect((await cluster.routes()).some((r) => r.regionId === child)).toBe(false);
      // The child is retired: its WAL only a mark that refuses fences, none of its flushes left.
      expect(await redis.hgetall(childWal.meta)).toEqual({ retired: '1' });

      await new Promise((r) => setTimeout(r, 9000)); // the old leader's split resumed and refused
      expect(await redis.hgetall(childWal.meta)).toEqual({ retired: '1' });
      const childValue = (BigInt(1) << 32n) | BigInt(child.split(':')[1]!);
      for (const kind of ['manifests', 'snapshots', 'deltas']) {
        const files = join(cluster.dir, 'objects', kind, childValue.toString());
        expect(existsSync(files) ? readdirSync(files) : []).toEqual([]);
      }
      // Nor does the old leader keep the child open, whether the parent came back there (the open
      // closes the retired child in its way) or moved on (the heartbeat repair closes it).
      await cluster.waitFor(
        async () => {
          const status = (await (await fetch(`${cluster.metasrvUrl}/admin/status`)).json()) as {
            nodes: Array<{ id: string; regions: number }>;
          };
          const placed = (await cluster.routes()).filter(
            (r) => r.leader === oldLeader || r.followers.some((f) => f.id === oldLeader),
          ).length;
          return status.nodes.find((n) => n.id === oldLeader)?.regions === placed ? true : undefined;
        },
        'the old leader to hold only the copies the routes place there',
        30_000,
      );
      const acked = await load.stop();
      expect(await missing(cluster, acked)).toEqual([]);
      await client.put(Buffer.from('P-after'), Buffer.from('right'));
      await client.put(Buffer.from('O-after'), Buffer.from('left'));
      expect((await client.get(Buffer.from('P-after')))?.toString()).toBe('right');
      expect((await client.get(Buffer.from('O-after')))?.toString()).toBe('left');
    } finally {
      if (stopped) cluster.signal(stopped, 'SIGCONT');
      await load.stop();
      await client.close();
      redis.disconnect();
    }
  });
});

describe('load-based split', () => {
  it('splits a hot region at a key from its sampled requests, and not a region taking ordered inserts', async () => {
    const cluster = await clusters.start({
      nodes: 3,
      // Hot at 100 requests a second for 3 seconds; a split check every second
      nodeEnv: { REGIONSTORE_LOAD_SPLIT__QPS_THRESHOLD: '100', REGIONSTORE_LOAD_SPLIT__DETECT_TIMES: '3' },
      metasrvEnv: { REGIONSTORE_SPLIT__CHECK_INTERVAL_MS: '1000' },
    });
    const client = new RegionStoreClient({ metasrv: cluster.metasrvUrl, retryTimeoutMs: 60_000 });
    const before = await cluster.routes();
    const hot = before.find((r) => r.regionId === '1:2')!; // keys 0x40‥0x60
    const walked = before.find((r) => r.regionId === '1:5')!; // keys 0xa0‥0xc0
    let stop = false;
    const written = new Map<string, string>();
    // Uniform reads and writes over region 1:2, from four loops
    const uniform = Array.from({ length: 4 }, async (_, loop) => {
      for (let i = 0; !stop; i++) {
        const key = Buffer.from([
          0x40 + Math.floor(Math.random() * 32),
          Math.floor(Math.random() * 256),
          loop,
        ]);
        if (i % 2) await client.get(key);
        else {
          await client.put(key, Buffer.from(`v${i}`));
          written.set(key.toString('hex'), `v${i}`);
        }
      }
    });
    // Ordered inserts into region 1:5: every key after the last, from two loops sharing the counter
    // (one loop alone fell under the 100 requests a second on a busy machine, and was never hot)
    let next = 0;
    const ordered = Array.from({ length: 2 }, async () => {
      while (!stop) {
        const i = next++;
        const key = Buffer.concat([Buffer.from([0xa5]), Buffer.from(String(i).padStart(10, '0'))]);
        await client.put(key, Buffer.from(`o${i}`));
        written.set(key.toString('hex'), `o${i}`);
      }
    });
    try {
      const child = await cluster.waitFor(
        async () => (await cluster.routes()).find((r) => !before.some((b) => b.regionId === r.regionId)),
        'a load split of region 1:2',
        60_000,
      );
      const routes = await cluster.routes();
      const parent = routes.find((r) => r.regionId === hot.regionId)! as typeof hot & { end: string };
      const splitKey = Buffer.from((child as typeof hot & { start: string }).start, 'base64');
      // Inside the hot region, at a key its requests sampled (not its old boundary)
      expect(splitKey[0]).toBeGreaterThanOrEqual(0x40);
      expect(splitKey[0]).toBeLessThan(0x60);
      expect(Buffer.from(parent.end, 'base64')).toEqual(splitKey);
      // Ordered inserts kept region 1:5 hot all along, and it did not split
      await new Promise((r) => setTimeout(r, 3000));
      const after = await cluster.routes();
      expect(after.find((r) => r.regionId === walked.regionId)?.epoch.version).toBe(walked.epoch.version);
      const leaderOf5 = after.find((r) => r.regionId === walked.regionId)!;
      const nodeMetrics = await (await fetch(`${leaderOf5.address}/metrics`)).text();
      expect(
        Number(
          nodeMetrics.match(
            /^regionstore_storage_node_load_split_seconds_total\{verdict="sequential"[^}]*\} (\d+)$/m,
          )?.[1] ?? 0,
        ),
      ).toBeGreaterThan(0);
    } finally {
      stop = true;
      await Promise.all([...uniform, ...ordered]);
    }
    // Every write survived the split
    const keys = [...written.keys()];
    const values = await client.batchGet(keys.map((k) => Buffer.from(k, 'hex')));
    expect(keys.filter((k, i) => values[i]?.toString() !== written.get(k))).toEqual([]);
    await client.close();
  });
});

describe('split during a backup', () => {
  it('backs up every key once while a region splits and its new half moves to another node, and restores exactly', async () => {
    // Each node waits 6 s between taking a backup job and reading which regions it leads: long enough
    // for a split and a move to happen in between.
    const source = await clusters.start({
      nodes: 3,
      nodeEnv: { REGIONSTORE_FAILPOINTS: 'backup_before_seek=delay(6000)' },
    });
    const post = async (path: string, body: unknown) => {
      const reply = await fetch(`${source.metasrvUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const json = (await reply.json()) as Record<string, unknown>;
      if (!reply.ok) throw new Error(`${path}: ${JSON.stringify(json)}`);
      return json;
    };
    const client = new RegionStoreClient({ metasrv: source.metasrvUrl, retryTimeoutMs: 60_000 });
    // 600 keys over every region, 75 of them in 1:2 (0x40‥0x60) on both sides of 'P'
    const keys = Array.from({ length: 600 }, (_, i) =>
      Buffer.concat([Buffer.from([Math.floor((i * 256) / 600)]), Buffer.from(`-${i}`)]),
    );
    for (let i = 0; i < keys.length; i += 50)
      await client.write(
        keys.slice(i, i + 50).map((key, j) => ({ op: 'put' as const, key, value: Buffer.from(`v${i + j}`) })),
      );
    const expected = await client.scan({ limit: 10_000 });
    expect(expected).toHaveLength(600);

    const backupDir = clusters.scratch('backup-during-split');
    const backup = await post('/admin/backup', {
      storage: `local://${backupDir}`,
      endVersion: composeTimestamp(Date.now()).toString(),
      wait: false,
    });
    // Meanwhile 1:2 splits at 'P' and its new half moves to a node that led neither
    const parent = (await source.routes()).find((r) => r.regionId === '1:2')!;
    const split = await post('/admin/split', { regionId: '1:2', key: Buffer.from('P').toString('base64') });
    const child = await source.waitFor(
      async () => {
        const state = (await (
          await fetch(`${source.metasrvUrl}/admin/procedures/${split.procedureId}`)
        ).json()) as {
          status: string;
          context?: { childId?: string };
        };
        return state.status === 'Done' ? state.context!.childId : undefined;
      },
      'the split',
      30_000,
    );
    const other = ['node-1', 'node-2', 'node-3'].find((n) => n !== parent.leader)!;
    await post('/admin/migrate', { regionId: child, to: other });
    await source.waitFor(
      async () => (await source.routes()).find((r) => r.regionId === child)?.leader === other,
      'the new half to move',
      30_000,
    );
    const record = await source.waitFor(
      async () => {
        const r = (await (await fetch(`${source.metasrvUrl}/admin/backups/${backup.id}`)).json()) as {
          status: string;
          regionsTotal: number;
          error?: string;
        };
        return r.status === 'Running' ? undefined : r;
      },
      'the backup',
      90_000,
    );
    // The parent's leader answered only for [0x40, P) (or not at all, mid-split): the keys it left
    // out were sent again to whoever holds them now, one more part each
    expect(record).toMatchObject({ status: 'Done', kvs: 600 });
    expect(record!.regionsTotal).toBeGreaterThan(8);
    await client.close();
    await source.stop();

    const target = await clusters.start({ nodes: 3 });
    const restore = await fetch(`${target.metasrvUrl}/admin/restore`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ storage: `local://${backupDir}`, wait: true }),
    });
    expect(await restore.json()).toMatchObject({ status: 'Done' });
    const restored = new RegionStoreClient({ metasrv: target.metasrvUrl, retryTimeoutMs: 60_000 });
    const got = await restored.scan({ limit: 10_000 });
    expect(got.map((kv) => [kv.key.toString('hex'), kv.value.toString()])).toEqual(
      expected.map((kv) => [kv.key.toString('hex'), kv.value.toString()]),
    );
    await restored.close();
  });
});

describe('region split, metasrv killed halfway', () => {
  it('a new metasrv resumes the split where it stopped: the routes follow, nothing is lost', async () => {
    // Each node's split holds 4 s between the split and its flushes: time to kill the metasrv.
    const cluster = await clusters.start({
      nodes: 3,
      nodeEnv: { REGIONSTORE_FAILPOINTS: 'region_split_before_flush=delay(4000)' },
    });
    const load = writeLoad(cluster, 2);
    try {
      await new Promise((r) => setTimeout(r, 1000));
      const response = await fetch(`${cluster.metasrvUrl}/admin/split`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ regionId: '1:5', key: Buffer.from([0xb0]).toString('base64') }),
      });
      const { procedureId } = (await response.json()) as { procedureId: string };
      await new Promise((r) => setTimeout(r, 1500));
      await cluster.kill('metasrv-1', 'SIGKILL');
      const port = Number(new URL(cluster.metasrvUrl).port);
      cluster.startMetasrv('metasrv-1', port);
      const final = await cluster.waitFor(
        async () => {
          const state = (await (
            await fetch(`${cluster.metasrvUrl}/admin/procedures/${procedureId}`)
          ).json()) as {
            status?: string;
            context?: { childId: string };
          };
          return state.status && state.status !== 'Running' ? state : undefined;
        },
        'the resumed split to end',
        60_000,
      );
      expect(final?.status).toBe('Done');
      const routes = await cluster.routes();
      expect(routes.map((r) => r.regionId)).toEqual(expect.arrayContaining(['1:5', final!.context!.childId]));
      expect(routes).toHaveLength(9);
      await new Promise((r) => setTimeout(r, 1000));
      const acked = await load.stop();
      expect(acked.size).toBeGreaterThan(50); // the load ran: an empty map would check nothing
      expect(await missing(cluster, acked)).toEqual([]);
    } finally {
      await load.stop();
    }
  });
});

describe('region merge', () => {
  it('merges a split region back under writes (regionctl region merge): one region again, every acknowledged write kept, the other retired', async () => {
    // No balancing: the two halves stay on the node that split them (a merge needs one leader).
    const cluster = await clusters.start({ nodes: 3, metasrvEnv: { REGIONSTORE_BALANCE__ENABLED: 'false' } });
    const client = new RegionStoreClient({ metasrv: cluster.metasrvUrl, retryTimeoutMs: 60_000 });
    const load = writeLoad(cluster, 4);
    const regionctl = async (...args: string[]) =>
      JSON.parse(
        (
          await run(process.execPath, [CLI_MAIN, '--metasrv', cluster.metasrvUrl, '--json', ...args], {
            encoding: 'utf8',
          })
        ).stdout,
      ) as { status: string; context: { childId?: string } };
    try {
      await new Promise((r) => setTimeout(r, 1000));
      const split = await regionctl('region', 'split', '1:3', '--key', 'p');
      expect(split.status).toBe('Done');
      const child = split.context.childId!;
      await client.put(Buffer.from('p-in-child'), Buffer.from('before-merge'));
      await new Promise((r) => setTimeout(r, 1000));

      const merged = await regionctl('region', 'merge', '1:3', child);
      expect(merged.status).toBe('Done');
      const routes = await cluster.routes();
      expect(routes).toHaveLength(8);
      expect(routes.map((r) => r.regionId)).not.toContain(child);
      const region = routes.find((r) => r.regionId === '1:3')! as (typeof routes)[number] & {
        start: string;
        end: string;
      };
      expect(Buffer.from(region.start, 'base64')).toEqual(Buffer.from([0x60]));
      expect(Buffer.from(region.end, 'base64')).toEqual(Buffer.from([0x80]));

      await new Promise((r) => setTimeout(r, 1000));
      const acked = await load.stop();
      expect(acked.size).toBeGreaterThan(50);
      expect(await missing(cluster, acked)).toEqual([]);
      expect((await client.get(Buffer.from('p-in-child')))?.toString()).toBe('before-merge');
      await client.put(Buffer.from('p-after-merge'), Buffer.from('merged'));
      expect((await client.get(Buffer.from('p-after-merge')))?.toString()).toBe('merged');
      // The child is retired: no WAL in Redis but the mark that refuses it a fence, no manifest in the
      // object store (a recovery cannot bring it back).
      const childValue = (BigInt(1) << 32n) | BigInt(child.split(':')[1]!);
      const manifests = join(cluster.dir, 'objects', 'manifests', childValue.toString());
      expect(existsSync(manifests) ? readdirSync(manifests) : []).toEqual([]);
      const redis = createRedis(testRedisUrl(), 'client');
      try {
        await waitForRedis(redis);
        const keys = walKeys(cluster.prefix, RegionId.parse(child));
        expect(await redis.exists(keys.log, keys.followers)).toBe(0);
        expect(await redis.hgetall(keys.meta)).toEqual({ retired: '1' });
        // …while the merged region's WAL is where the same builder says (the lookup above can fail).
        expect(await redis.exists(walKeys(cluster.prefix, RegionId.parse('1:3')).meta)).toBe(1);
      } finally {
        redis.disconnect();
      }
      await cluster.waitFor(
        async () =>
          (await cluster.routes()).find((r) => r.regionId === '1:3')?.followers.length === 1 || undefined,
        'a follower for the merged region',
        60_000,
      );
    } finally {
      await load.stop();
      await client.close();
    }
  });
});

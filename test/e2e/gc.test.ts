import { randomBytes } from 'node:crypto';
import { RegionStoreClient } from '@regionstore/client';
import { composeTimestamp, type Timestamp } from '@regionstore/core';
import { spread, useCluster, waitFor } from './cluster';

const clusters = useCluster('e2e-gc');

/** A GC that keeps one second of history and moves every 200 ms; nodes check their regions as often. */
const SHORT_GC = {
  metasrvEnv: { REGIONSTORE_GC__LIFE_TIME_MS: '1000', REGIONSTORE_GC__RUN_INTERVAL_MS: '200' },
  nodeEnv: {
    REGIONSTORE_WORKER_GROUP__CHECK_REGION_INTERVAL_MS: '200',
    REGIONSTORE_WORKER_GROUP__MAX_INITIAL_CHECK_DELAY_MS: '200',
  },
};

const codeOf = (promise: Promise<unknown>) =>
  promise.then(
    () => 'ok',
    (err: { code?: string }) => err.code ?? String(err),
  );

async function nodeMetric(client: RegionStoreClient, name: string): Promise<number> {
  let total = 0;
  for (const address of new Set((await client.routes()).map((r) => r.address))) {
    const text = await (await fetch(`${address}/metrics`)).text();
    // `name 3` or `name{labels} 3`
    const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
    total += line ? Number(line.split(' ').at(-1)) : 0;
  }
  return total;
}

describe('MVCC GC and reads at a ts', () => {
  it('a read at a ts returns the same value when repeated after later writes', async () => {
    const cluster = await clusters.start({ nodes: 2, initialRegions: 4 });
    const client = new RegionStoreClient({ metasrv: cluster.metasrvUrl });
    try {
      const keys = spread('repeat', 32);
      await client.write(keys.map((key) => ({ op: 'put', key, value: Buffer.from('v1') })));
      // Half a second ahead of the clocks: the writes below would commit under it unless it holds them off.
      const ts = composeTimestamp(Date.now() + 500);
      const read = async () => ({
        batch: (await client.batchGet(keys, { ts })).map((v) => v?.toString()),
        one: (await client.get(keys[3]!, { ts }))?.toString(),
        scan: (await client.scan({ ts, limit: 100 })).map((e) => e.value.toString()),
      });
      const before = await read();
      expect(before.batch).toEqual(keys.map(() => 'v1'));
      for (const key of keys) await client.put(key, Buffer.from('v2'));
      expect(await read()).toEqual(before);
      expect((await client.batchGet(keys)).map((v) => v?.toString())).toEqual(keys.map(() => 'v2'));
    } finally {
      await client.close();
    }
  });

  it('collects history below the safepoint, and a read below it gets TsTooOld', async () => {
    const cluster = await clusters.start({ nodes: 2, initialRegions: 2, ...SHORT_GC });
    const client = new RegionStoreClient({ metasrv: cluster.metasrvUrl });
    try {
      const keys = spread('history', 16);
      const first = await client.write(keys.map((key) => ({ op: 'put', key, value: Buffer.from('old') })));
      for (let i = 0; i < 3; i++)
        await client.write(keys.map((key) => ({ op: 'put', key, value: Buffer.from(`new${i}`) })));
      await waitFor(
        async () => (await client.gcStatus()).safePoint > first.commitTs,
        'the safepoint',
        20_000,
      );
      const code = await waitFor(
        async () => {
          const c = await codeOf(client.get(keys[0]!, { ts: first.commitTs }));
          return c === 'TsTooOld' ? c : undefined;
        },
        'a node to refuse the old read',
        20_000,
      );
      expect(code).toBe('TsTooOld');
      // Each key's three older versions are collected, by the nodes on their own.
      await waitFor(
        async () =>
          (await nodeMetric(client, 'regionstore_worker_group_gc_collected_versions_total')) >=
          3 * keys.length,
        'the background GC',
        20_000,
      );
      expect((await client.batchGet(keys)).map((v) => v?.toString())).toEqual(keys.map(() => 'new2'));
    } finally {
      await client.close();
    }
  });

  it('a backup holds the safepoint back while it runs and restores exactly; one below it is refused', async () => {
    const source = await clusters.start({ nodes: 2, initialRegions: 4, ...SHORT_GC });
    const client = new RegionStoreClient({ metasrv: source.metasrvUrl });
    const keys = spread('backup', 40);
    const values = keys.map(() => randomBytes(8192));
    const target = `local://${clusters.scratch('gc-backup')}`;
    try {
      await client.write(keys.map((key, i) => ({ op: 'put', key, value: values[i]! })));
      const endVersion = composeTimestamp(Date.now());
      // ~330 KB at 32 KiB/s: the backup runs for seconds, many GC rounds, while every key changes.
      const started = (await client.admin('/admin/backup', {
        storage: target,
        endVersion: endVersion.toString(),
        rateLimit: 32 * 1024,
        wait: false,
      })) as { id: string };
      let highest: Timestamp = 0n;
      let held = false;
      let status = 'Running';
      const changes = (async () => {
        for (let round = 0; status === 'Running'; round++) {
          await client.write(keys.map((key) => ({ op: 'put', key, value: Buffer.from(`after-${round}`) })));
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      while (status === 'Running') {
        const gc = await client.gcStatus();
        status = ((await client.admin(`/admin/backups/${started.id}`)) as { status: string }).status;
        // Only a reading the backup was still running after counts: the last one may follow its end.
        if (status !== 'Running') break;
        if (gc.safePoint > highest) highest = gc.safePoint;
        held ||= gc.services.some(
          (s) => s.serviceId === `backup:${started.id}` && s.safePoint === endVersion,
        );
        await new Promise((r) => setTimeout(r, 100));
      }
      await changes;
      expect(status).toBe('Done');
      expect(held).toBe(true);
      expect(highest).toBeLessThanOrEqual(endVersion);
      // Released: the safepoint moves past the backup once it is done.
      await waitFor(
        async () => (await client.gcStatus()).safePoint > endVersion,
        'the safepoint to move on',
        20_000,
      );
      const tooOld = client.admin('/admin/backup', {
        storage: `local://${clusters.scratch('gc-backup-old')}`,
        endVersion: endVersion.toString(),
      });
      expect(await codeOf(tooOld)).toBe('TsTooOld');
      const sinceTooOld = client.admin('/admin/backup', {
        storage: `local://${clusters.scratch('gc-backup-since')}`,
        startVersion: endVersion.toString(),
        endVersion: composeTimestamp(Date.now()).toString(),
      });
      expect(await codeOf(sinceTooOld)).toBe('TsTooOld');
    } finally {
      await client.close();
    }

    const restored = await clusters.start({ nodes: 1, initialRegions: 2 });
    const reader = new RegionStoreClient({ metasrv: restored.metasrvUrl });
    try {
      await reader.restore(target);
      const got = await reader.batchGet(keys);
      expect(got.map((v) => v?.toString('hex'))).toEqual(values.map((v) => v.toString('hex')));
    } finally {
      await reader.close();
    }
  });
});

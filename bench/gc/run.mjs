// MVCC GC benchmark (issue #31): an update-only workload over a fixed set of keys, on a cluster as
// `npm start` runs it (metasrv + 3 storage nodes, 8 regions, WAL durability `everysec` on a Redis with
// AOF everysec) but with `gc.lifeTimeMs` 1 min. Every SAMPLE_MS, the node data dirs on disk and the
// latest flush's size (per region, the snapshot and deltas its latest manifest names: what an open
// reads) are read; the figures are each one's level at the end and its peak against its level at
// minute 2, when the history kept has reached its size. Without GC both grow with every update.
//
//   npm run bench -- gc
//   REGIONSTORE_BENCH_GC_MINUTES=3 node bench/gc/run.mjs        (a quicker check)
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegionStoreClient } from '@regionstore/client';
import { PrivateRedisServer } from '@regionstore/testing';
import { freePort } from '../lib/cluster.mjs';
import { du } from '../lib/disk.mjs';
import { figure, printTable, writeResults } from '../lib/report.mjs';

const { startCluster } = createRequire(import.meta.url)('../../tools/cluster.cjs');

const MINUTES = Number(process.env.REGIONSTORE_BENCH_GC_MINUTES ?? 10);
const BASE_MINUTE = 2;
const KEYS = 20_000;
const VALUE_BYTES = 1024;
const PER_REQUEST = 16;
const IN_FLIGHT = 16;
const LIFE_TIME_MS = 60_000;
const SAMPLE_MS = 30_000;
const MiB = 1024 * 1024;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const step = (what) => console.error(`… ${what}`);
const keyOf = (i) => {
  const key = Buffer.from(`.gc${String(i).padStart(8, '0')}`);
  key[0] = (i * 251) % 256; // spread over the regions (the bootstrap splits by first byte)
  return key;
};

const root = mkdtempSync(join(tmpdir(), 'regionstore-bench-gc-'));
const clusterDir = join(root, 'cluster');
let redis;
let cluster;
let client;

/**
 * Over the regions, the bytes of the files each one's newest manifest names (snapshot + deltas: what
 * an open reads), and of its snapshot alone (the last full flush, the compaction that GC shrinks).
 */
async function latestFlushBytes() {
  const dir = join(clusterDir, 'objects', 'manifests');
  let total = 0;
  let snapshots = 0;
  for (const region of await readdir(dir).catch(() => [])) {
    const names = (await readdir(join(dir, region))).filter((n) => n.endsWith('.json')).sort();
    for (const name of names.reverse()) {
      try {
        const manifest = JSON.parse(await readFile(join(dir, region, name), 'utf8'));
        total += (manifest.size ?? 0) + (manifest.deltas ?? []).reduce((n, d) => n + d.size, 0);
        snapshots += manifest.size ?? 0;
        break;
      } catch {
        // purged between the listing and the read: the next newest one
      }
    }
  }
  return { total, snapshots };
}

async function nodeCounter(name) {
  const status = await (await fetch(`${cluster.metasrvUrl}/admin/status`)).json();
  let total = 0;
  for (const node of status.nodes) {
    if (!node.address) continue;
    const text = await (await fetch(`${node.address}/metrics`)).text();
    for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm')))
      total += Number(m[1]);
  }
  return total;
}

async function sample(startedAt, updates) {
  const nodeDirs = (await Promise.all([1, 2, 3].map((i) => du(join(clusterDir, `node-${i}`))))).reduce(
    (a, b) => a + b,
    0,
  );
  const flush = await latestFlushBytes();
  return {
    minute: (Date.now() - startedAt) / 60_000,
    nodeDirs,
    latestFlush: flush.total,
    latestSnapshots: flush.snapshots,
    updates,
    collectedVersions: await nodeCounter('regionstore_worker_group_gc_collected_versions_total'),
    safePointAgeMs: (await client.gcStatus()).ageMs,
  };
}

async function main() {
  redis = await PrivateRedisServer.start(join(root, 'redis'), ['--appendfsync', 'everysec']);
  cluster = await startCluster({
    dir: clusterDir,
    redisUrl: redis.url,
    prefix: 'regionstore-local',
    nodes: 3,
    metasrvPort: await freePort(),
    logLevel: 'warn',
    metasrvEnv: {
      REGIONSTORE_GC__LIFE_TIME_MS: String(LIFE_TIME_MS),
      REGIONSTORE_GC__RUN_INTERVAL_MS: '10000',
    },
    nodeEnv: { REGIONSTORE_WORKER_GROUP__CHECK_REGION_INTERVAL_MS: '10000' },
  });
  client = new RegionStoreClient({ metasrv: cluster.metasrvUrl, retryTimeoutMs: 60_000 });
  step(`loading ${KEYS} keys of ${VALUE_BYTES} B`);
  for (let i = 0; i < KEYS; i += PER_REQUEST * IN_FLIGHT) {
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, (_, j) => {
        const from = i + j * PER_REQUEST;
        const mutations = [];
        for (let k = from; k < Math.min(KEYS, from + PER_REQUEST); k++)
          mutations.push({ op: 'put', key: keyOf(k), value: randomBytes(VALUE_BYTES) });
        return mutations.length ? client.write(mutations) : undefined;
      }),
    );
  }
  step(`updating random keys for ${MINUTES} min (gc.lifeTimeMs ${LIFE_TIME_MS})`);
  const startedAt = Date.now();
  const endAt = startedAt + MINUTES * 60_000;
  let updates = 0;
  const samples = [];
  const workers = Array.from({ length: IN_FLIGHT }, async () => {
    while (Date.now() < endAt) {
      const mutations = Array.from({ length: PER_REQUEST }, () => ({
        op: 'put',
        key: keyOf(Math.floor(Math.random() * KEYS)),
        value: randomBytes(VALUE_BYTES),
      }));
      await client.write(mutations);
      updates += PER_REQUEST;
    }
  });
  const sampler = (async () => {
    while (Date.now() < endAt) {
      await sleep(Math.min(SAMPLE_MS, Math.max(0, endAt - Date.now())));
      const s = await sample(startedAt, updates);
      samples.push(s);
      step(
        `minute ${s.minute.toFixed(1)}: node dirs ${(s.nodeDirs / MiB).toFixed(0)} MiB, latest flush ${(s.latestFlush / MiB).toFixed(0)} MiB (snapshots ${(s.latestSnapshots / MiB).toFixed(0)}), ${s.updates} updates, ${s.collectedVersions} versions collected`,
      );
    }
  })();
  await Promise.all([...workers, sampler]);

  const base = samples.find((s) => s.minute >= BASE_MINUTE) ?? samples[0];
  const after = samples.filter((s) => s.minute >= BASE_MINUTE);
  const last = samples.at(-1);
  const peak = (field) => Math.max(...after.map((s) => s[field]));
  const live = KEYS * (VALUE_BYTES + 11);
  const atBase = `at minute ${base.minute.toFixed(1)}`;
  const levels = [
    ['node data dirs', 'nodeDirs'],
    ['latest flush (snapshot + deltas)', 'latestFlush'],
    ['latest snapshots', 'latestSnapshots'],
  ].flatMap(([what, field]) => [
    figure(`${what} at the end`, 'MiB', last[field] / MiB, atBase, base[field] / MiB),
    figure(`${what}, peak after minute ${BASE_MINUTE}`, 'MiB', peak(field) / MiB, atBase, base[field] / MiB),
  ]);
  const figures = [
    ...levels,
    figure('node data dirs at the end', 'MiB', last.nodeDirs / MiB, 'live data (keys × value)', live / MiB),
    figure(
      'updates written',
      'MiB',
      (last.updates * (VALUE_BYTES + 11)) / MiB,
      'live data (keys × value)',
      live / MiB,
    ),
    figure('versions collected', 'versions', last.collectedVersions, 'updates', last.updates),
  ];
  printTable(
    `gc: ${KEYS} keys × ${VALUE_BYTES} B, update-only for ${MINUTES} min, gc.lifeTimeMs ${LIFE_TIME_MS / 1000} s, npm start's cluster`,
    figures,
  );
  const file = writeResults(
    'gc',
    'npm run bench -- gc',
    {
      keys: KEYS,
      valueBytes: VALUE_BYTES,
      minutes: MINUTES,
      lifeTimeMs: LIFE_TIME_MS,
      perRequest: PER_REQUEST,
      inFlight: IN_FLIGHT,
      samples,
    },
    figures,
  );
  console.log(`\nresults: ${file}`);
}

let cleaning;
const cleanup = () =>
  (cleaning ??= (async () => {
    await client?.close().catch(() => undefined);
    await cluster?.stop().catch((err) => console.error(`stopping the cluster: ${err.message}`));
    await redis?.kill('SIGTERM').catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  })());
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
]) {
  process.once(signal, () => void cleanup().finally(() => process.exit(code)));
}

try {
  await main();
} finally {
  await cleanup();
}

// Node memory under a sustained write load: a local cluster (metasrv + 3 storage nodes) takes writes
// from 64 concurrent clients for BENCH_MEMORY_SECONDS (default 300); every node's RSS is sampled
// throughout. The figures: each node's peak RSS against its RSS when the load started (SPEC §8: it
// stays within 20 %), and that growth against raw rocksdb-native's for the same puts (a process of
// its own, run after the cluster). `npm run bench -- memory`
import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { RegionStoreClient } from '@regionstore/client';
import { createRedis, waitForRedis } from '@regionstore/runtime';
import { dropKeys, freePort } from '../lib/cluster.mjs';
import { sampleRss } from '../lib/memory.mjs';
import { figure, printTable, writeResults } from '../lib/report.mjs';

const require = createRequire(import.meta.url);
const { startCluster } = require('../../tools/cluster.cjs');
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const SECONDS = Number(process.env.BENCH_MEMORY_SECONDS ?? 300);
const WARMUP_SECONDS = Math.min(30, SECONDS / 10);
const CONCURRENCY = 64;
const BATCH = 16;
const VALUE = Buffer.alloc(256, 3);
// Keys cycle over a fixed space, so the data stops growing and memory that keeps growing is a leak.
const KEY_SPACE = 500_000;
const prefix = `rs-bench-memory-${process.pid}`;
const root = mkdtempSync(join(tmpdir(), 'regionstore-bench-memory-'));
const MB = (bytes) => bytes / 1e6;

/** A node's V8 heap in use and RocksDB's memory by kind, from its /metrics. */
async function memoryOf(cluster, name) {
  const status = await (await fetch(`${cluster.metasrvUrl}/admin/status`)).json();
  const address = status.nodes.find((n) => n.id === name).address;
  const lines = (await (await fetch(`${address}/metrics`)).text()).split('\n');
  const value = (prefix) =>
    Number(
      lines
        .find((l) => l.startsWith(prefix))
        .split(' ')
        .at(-1),
    );
  return Object.fromEntries(
    [
      ['heap', 'nodejs_heap_size_used_bytes'],
      ['memtables', 'regionstore_engine_memory_bytes{kind="memtables"'],
      ['tableReaders', 'regionstore_engine_memory_bytes{kind="table_readers"'],
      ['blockCache', 'regionstore_engine_memory_bytes{kind="block_cache"'],
    ].map(([kind, prefix]) => [kind, Math.round(MB(value(prefix)))]),
  );
}

/**
 * Raw rocksdb-native taking the same puts as one node (after the same warm-up), in a process of its
 * own: its RSS peak ÷ start is what the engine alone grows by for the same work.
 */
async function rawBaseline(warmupPuts, puts) {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./raw-writer.mjs', import.meta.url))], {
    env: { ...process.env, WARMUP_PUTS: String(warmupPuts), PUTS: String(puts) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  let sampler;
  let seconds;
  for await (const line of createInterface({ input: child.stdout })) {
    if (line === 'measuring') sampler = sampleRss(child.pid, 200);
    if (line.startsWith('done ')) {
      seconds = Number(line.slice(5));
      break;
    }
  }
  if (!sampler || seconds === undefined) throw new Error('the raw writer stopped before it was done');
  const result = sampler.stop();
  child.stdin.end();
  await exited;
  return { ...result, seconds };
}

const redis = createRedis(REDIS_URL, 'client');
await waitForRedis(redis);
const figures = [];
let writes = 0;
let timelines;
let memory;
let nodeRss;
let putsPerNode;
const cluster = await startCluster({
  durability: 'unsafe', // REDIS_URL is whatever Redis runs here; bench/durability measures the modes
  dir: root,
  redisUrl: REDIS_URL,
  prefix,
  nodes: 3,
  metasrvPort: await freePort(),
  logLevel: 'warn',
});
try {
  const client = new RegionStoreClient({ metasrv: cluster.metasrvUrl, retryTimeoutMs: 60_000 });
  let phase = 'warmup';
  const until = { warmup: Date.now() + WARMUP_SECONDS * 1000 };
  const load = Array.from({ length: CONCURRENCY }, async (_, loop) => {
    for (let i = 0; phase !== 'done'; i++) {
      const base = ((loop * 7919 + i * BATCH * CONCURRENCY) % KEY_SPACE) + loop;
      await client.write(
        Array.from({ length: BATCH }, (_, j) => ({
          op: 'put',
          key: Buffer.from([(base + j) % 256, ...Buffer.from(`mem-${(base + j) % KEY_SPACE}`)]),
          value: VALUE,
        })),
      );
      writes += BATCH;
    }
  });
  console.error(`… warming up for ${WARMUP_SECONDS} s`);
  await new Promise((r) => setTimeout(r, until.warmup - Date.now()));
  const nodes = ['node-1', 'node-2', 'node-3'];
  const memoryAtStart = await Promise.all(nodes.map((name) => memoryOf(cluster, name)));
  const samplers = nodes.map((name) => sampleRss(cluster.processes.get(name).pid, 1000, 30));
  const writesAtStart = writes;
  console.error(`… ${SECONDS} s of writes`);
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  phase = 'done';
  const results = samplers.map((s) => s.stop());
  const memoryAtEnd = await Promise.all(nodes.map((name) => memoryOf(cluster, name)));
  memory = Object.fromEntries(
    nodes.map((name, i) => [name, { start: memoryAtStart[i], end: memoryAtEnd[i] }]),
  );
  console.log('V8 heap and RocksDB memory, start → end (MB):');
  for (const [name, { start, end }] of Object.entries(memory)) {
    console.log(
      `  ${name}: ${Object.keys(start)
        .map((k) => `${k} ${start[k]} → ${end[k]}`)
        .join(', ')}`,
    );
  }
  await Promise.all(load);
  nodeRss = Object.fromEntries(nodes.map((name, i) => [name, results[i]]));
  putsPerNode = { warmup: writesAtStart / nodes.length, measured: (writes - writesAtStart) / nodes.length };
  nodes.forEach((name, i) => {
    figures.push({
      ...figure(
        `${name} RSS peak during ${SECONDS} s of writes`,
        'MB',
        MB(results[i].peak),
        'RSS at the start',
        MB(results[i].start),
      ),
      lowerIsBetter: true,
    });
  });
  console.error(`… ${Math.round((writes - writesAtStart) / SECONDS)} writes/s during the measurement`);
  timelines = Object.fromEntries(
    nodes.map((name, i) => [name, results[i].timeline.map((b) => Math.round(MB(b)))]),
  );
  console.log('RSS every 30 s (MB):');
  for (const [name, mbs] of Object.entries(timelines)) console.log(`  ${name}: ${mbs.join(' ')}`);
} finally {
  await cluster.stop();
  await dropKeys(redis, prefix);
  redis.disconnect();
  rmSync(root, { recursive: true, force: true });
}
// After the cluster stopped, so the baseline has the machine to itself, as each node had its share.
console.error(
  `… raw RocksDB baseline: ${Math.round(putsPerNode.measured)} puts after ${Math.round(putsPerNode.warmup)}`,
);
const raw = await rawBaseline(Math.round(putsPerNode.warmup), Math.round(putsPerNode.measured));
for (const [name, rss] of Object.entries(nodeRss)) {
  figures.push({
    ...figure(
      `${name} RSS growth (peak ÷ start)`,
      '×',
      rss.peak / rss.start,
      `raw rocksdb-native, same puts (${MB(raw.start).toFixed(0)} → ${MB(raw.peak).toFixed(0)} MB in ${raw.seconds.toFixed(0)} s)`,
      raw.peak / raw.start,
    ),
    lowerIsBetter: true,
  });
}
printTable(
  `memory: 3 storage nodes under ${CONCURRENCY} concurrent writers (${BATCH} × ${VALUE.length}-byte puts), ${SECONDS} s after ${WARMUP_SECONDS} s of warm-up`,
  figures,
);
console.log('(lower is better; RSS peak: the ratio is peak ÷ start; growth: node growth ÷ raw growth)');
const parameters = {
  seconds: SECONDS,
  warmupSeconds: WARMUP_SECONDS,
  concurrency: CONCURRENCY,
  batch: BATCH,
  keySpace: KEY_SPACE,
  writes,
  rssTimelineMB: timelines,
  rawBaseline: { startMB: MB(raw.start), peakMB: MB(raw.peak), seconds: raw.seconds, putsPerNode },
  memoryMB: memory,
};
console.log(`\nresults: ${writeResults('memory', 'npm run bench -- memory', parameters, figures)}`);

// System benchmark: a running local cluster as `npm start` runs it (metasrv + 3 storage nodes, separate
// processes, WAL durability everysec, a private redis-server with AOF appendfsync everysec) against
// same-run baselines: the limit server (limit-server.mjs: the same bodies, WAL append and RocksDB
// batches with nothing else, driven by a plain undici client), raw RocksDB through the binding, raw
// Redis (XADD pipeline, BullMQ job round trip with a no-op worker), and for failover an operator
// migration of the same regions. Backup and restore throughput and node memory have benchmarks of
// their own (backup, memory). `npm run bench -- cluster`
import 'reflect-metadata';
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import RocksDB from 'rocksdb-native';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { Packr } from 'msgpackr';
import { Agent, request as httpRequest } from 'undici';
import { RegionStoreClient } from '@regionstore/client';
import { createRedis, waitForRedis } from '@regionstore/runtime';
import { PrivateRedisServer } from '@regionstore/testing';
import { adminPost, dropKeys, freePort, nodeCpuSeconds, waitForFollowers } from '../lib/cluster.mjs';
import { concurrently as concurrentLoad } from '../lib/load.mjs';
import { figure, printTable, timed, writeResults } from '../lib/report.mjs';

const require = createRequire(import.meta.url);
const { startCluster } = require('../../tools/cluster.cjs');
const CONCURRENCY = 64;
const OPS = Number(process.env.BENCH_OPS ?? 40_000);
/**
 * Operations per write run: `OPS` for 1-op writes, more for batched ones (4× at 16, 8× at 128), so
 * every run lasts seconds rather than the under one second that made batched-write ratios swing.
 */
const writeOps = (batch) => OPS * Math.min(8, Math.max(1, batch / 4));
/** Keys per read run, for the same reason: a few seconds each. */
const GET_KEYS = 40_000;
const BATCH_GET_KEYS = 200_000;
const VALUE = Buffer.alloc(100, 7);
const FAILOVER_RUNS = Number(process.env.BENCH_FAILOVER_RUNS ?? 5);
const prefix = `rs-bench-cluster-${process.pid}`;
const root = mkdtempSync(join(tmpdir(), 'regionstore-bench-cluster-'));
// As `npm start` runs it: a redis-server of its own with AOF `appendfsync everysec`, and the nodes'
// default WAL durability (everysec). The limit server and the raw XADD baseline use the same Redis.
const redisServer = await PrivateRedisServer.start(join(root, 'redis'), ['--appendfsync', 'everysec']);
const REDIS_URL = redisServer.url;
let dirs = 0;
const dir = () => join(root, String(dirs++));
const key = (w, i, j) => Buffer.from([(w * 37 + i * 11 + j) % 256, ...Buffer.from(`-${w}-${i}-${j}`)]);

const concurrently = (total, perRequest, request) => concurrentLoad(total, perRequest, CONCURRENCY, request);

/** `request` timed: each call's milliseconds go to `latencies`. */
const timedRequests = (latencies, request) => async (w, i) => {
  const start = performance.now();
  await request(w, i);
  latencies.push(performance.now() - start);
};

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function rawRocks() {
  const db = new RocksDB(dir());
  await db.ready();
  const put = {};
  for (const batch of [1, 16, 128]) {
    put[batch] = await concurrently(OPS, batch, async (w, i) => {
      const b = db.write({ capacity: batch });
      for (let j = 0; j < batch; j++) b.tryPut(key(w, i, j), VALUE);
      await b.flush();
      b.destroy();
    });
  }
  step('raw get');
  const keys = Array.from({ length: 5000 }, (_, i) => key(i % 64, i, 0));
  const get = await concurrently(20_000, 1, async (w, i) => {
    const r = db.read({ capacity: 1 });
    const p = r.get(keys[(w * 131 + i) % keys.length]);
    r.tryFlush();
    await p;
    r.destroy();
  });
  step('raw batch get');
  const batchGet = await concurrently(40_000, 128, async (w, i) => {
    const r = db.read({ capacity: 128 });
    const ps = [];
    for (let j = 0; j < 128; j++) ps.push(r.get(keys[(w * 131 + i * 128 + j) % keys.length]));
    r.tryFlush();
    await Promise.all(ps);
    r.destroy();
  });
  step('raw scan');
  let scanned = 0;
  const scanSeconds = await timed(async () => {
    for await (const _ of db.iterator({}, { capacity: 256 })) scanned++;
  });
  await db.close();
  return { put, get, batchGet, scan: scanned / scanSeconds };
}

/**
 * The limit server (limit-server.mjs) in a child process, and the same load shapes as the cluster's
 * against it: `write(batch)`, `get()`, `batchGet()`, each returning ops (or keys) per second.
 */
async function startLimitServer() {
  const port = await freePort();
  const child = fork(
    new URL('./limit-server.mjs', import.meta.url),
    [dir(), REDIS_URL, `${prefix}:limit`, String(port)],
    { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] },
  );
  await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`limit server exited with ${code}`)));
  });
  const packr = new Packr({ useRecords: false });
  const agent = new Agent();
  const call = async (path, body) => {
    const response = await httpRequest(`http://127.0.0.1:${port}${path}`, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/vnd.msgpack', accept: 'application/vnd.msgpack' },
      body: packr.pack(body),
    });
    const out = packr.unpack(Buffer.from(await response.body.arrayBuffer()));
    if (response.statusCode !== 200) throw new Error(`limit server: ${response.statusCode}`);
    return out;
  };
  const keys = readKeys();
  return {
    stats: async () => (await fetch(`http://127.0.0.1:${port}/stats`)).json(),
    write: (batch, latencies = []) =>
      concurrently(
        writeOps(batch),
        batch,
        timedRequests(latencies, (w, i) =>
          call('/v1/write', {
            regionId: '1',
            mutations: Array.from({ length: batch }, (_, j) => ({
              op: 'put',
              key: key(w, i, j),
              value: VALUE,
            })),
          }),
        ),
      ),
    get: () =>
      concurrently(GET_KEYS, 1, (w, i) =>
        call('/v1/get', { regionId: '1', key: keys[(w * 131 + i) % keys.length] }),
      ),
    batchGet: () =>
      concurrently(BATCH_GET_KEYS, 128, (w, i) =>
        call('/v1/batch-get', {
          regionId: '1',
          keys: Array.from({ length: 128 }, (_, j) => keys[(w * 131 + i * 128 + j) % keys.length]),
        }),
      ),
    async stop() {
      await agent.close();
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

/** CPU seconds per second a side's idle servers use (the nodes' heartbeats, tailers and timers). */
async function idleRate(cpuSeconds) {
  const before = await cpuSeconds();
  await new Promise((resolve) => setTimeout(resolve, 3000));
  return ((await cpuSeconds()) - before) / 3;
}

/**
 * Waits until a side's server processes are done with what a load left them (flushes, compactions,
 * followers catching up), that is back to their idle rate plus 5 % of a core over half a second (20
 * s at most), and answers their CPU seconds then: that work is the load's cost, and left running it
 * would slow the other side's next run. A node that stopped answering (a failover's victim) is
 * waited for like a busy one.
 */
async function settled(cpuSeconds, idle) {
  const read = () => cpuSeconds().catch(() => Number.NaN);
  let last = await read();
  for (let waited = 0; waited < 20_000; waited += 500) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const now = await read();
    if (now - last < (idle + 0.05) / 2) return now;
    last = now;
  }
  step('still busy 20 s after the load; counted up to here');
  return last;
}

/** Each side's idle CPU rate, measured before its first load. */
let idle;

/**
 * Medians of three runs of each, interleaved (ours, theirs, ours, …), so load swings hit both, each
 * run followed by its side's settling; and the CPU seconds each side's server processes used over its
 * three runs, settling included.
 */
async function interleaved(ours, theirs) {
  const cpu = [() => nodeCpuSeconds(cluster.metasrvUrl), async () => (await limit.stats()).cpuSeconds];
  idle ??= [await idleRate(cpu[0]), await idleRate(cpu[1])];
  const a = [];
  const b = [];
  const used = [0, 0];
  for (let run = 0; run < 3; run++) {
    for (const [side, load, out] of [
      [0, ours, a],
      [1, theirs, b],
    ]) {
      const before = await cpu[side]();
      const start = performance.now();
      out.push(await load());
      const after = await settled(cpu[side], idle[side]);
      // What the side's servers would have used idle meanwhile is not the load's
      used[side] += after - before - (idle[side] * (performance.now() - start)) / 1000;
    }
  }
  const mid = (values) => [...values].sort((x, y) => x - y)[1];
  return [mid(a), mid(b), used];
}

/** WAL appends and the entries (write requests) they carried, summed over the nodes' /metrics. */
async function clusterWalStats() {
  const status = await (await fetch(`${cluster.metasrvUrl}/admin/status`)).json();
  let appends = 0;
  let entries = 0;
  for (const node of status.nodes) {
    const text = await (await fetch(`${node.address}/metrics`)).text();
    const value = (name) => Number(text.match(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm'))?.[1] ?? 0);
    appends += value('regionstore_log_store_append_duration_seconds_count');
    entries += value('regionstore_log_store_appended_entries_total');
  }
  return { appends, entries };
}

/** The keys the read loads ask for, all written by the 1-op write load. */
function readKeys() {
  return Array.from({ length: 5000 }, (_, i) => key(i % 64, i % 10, 0));
}

async function rawXadd(redis) {
  const out = {};
  for (const batch of [1, 16, 128]) {
    out[batch] = await concurrently(OPS, batch, async (w, i) => {
      const p = redis.pipeline();
      for (let j = 0; j < batch; j++) p.xadd(`${prefix}:raw:${w % 8}`, '*', 'd', key(w, i, j));
      await p.exec();
    });
  }
  return out;
}

async function bullmqRoundTrip(count) {
  const connections = [];
  const conn = () => {
    connections.push(createRedis(REDIS_URL, 'worker'));
    return connections.at(-1);
  };
  const queue = new Queue('noop', { connection: conn(), prefix });
  const events = new QueueEvents('noop', { connection: conn(), prefix });
  const worker = new Worker('noop', async () => ({ ok: true }), {
    connection: conn(),
    prefix,
    concurrency: 8,
  });
  await events.waitUntilReady();
  const times = [];
  for (let i = 0; i < count; i++) {
    const start = process.hrtime.bigint();
    const job = await queue.add('noop', {}, { removeOnComplete: { age: 60 } });
    await job.waitUntilFinished(events, 10_000);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  await worker.close();
  await events.close();
  await queue.close();
  // BullMQ leaves the connections it was given open
  for (const connection of connections) connection.disconnect();
  return times;
}

/**
 * Every region of one node writable elsewhere: after kill -9 (detection + failover procedure), and,
 * as the baseline, after an operator migration of the same regions (the procedure alone).
 */
async function failover(client, figures) {
  step('failover');
  const writable = (routes, tag) =>
    Promise.all(
      routes.map((r, i) =>
        client.put(Buffer.concat([Buffer.from(r.start, 'base64'), Buffer.from(`${tag}-${i}`)]), VALUE),
      ),
    );
  const failovers = [];
  const migrations = [];
  for (let run = 0; run < FAILOVER_RUNS; run++) {
    // On a cluster done with the loads' flushes and the last rejoin's catch-up, every region with a
    // follower again (the last kill took some regions' copies away): a failover promotes one.
    await settled(() => nodeCpuSeconds(cluster.metasrvUrl), idle[0]);
    await waitForFollowers(cluster);
    let routes = await cluster.routes();
    let victim = routes[0].leader;
    // Targets: every other alive node (the victim may lead every region by now).
    const status = await (await fetch(`${cluster.metasrvUrl}/admin/status`)).json();
    const others = status.nodes.filter((n) => n.state === 'alive' && n.id !== victim).map((n) => n.id);
    const moving = routes.filter((r) => r.leader === victim);
    let start = Date.now();
    await Promise.all(
      moving.map((r, i) =>
        // The previous failover's procedure may still be closing the region on the dead node.
        cluster.waitFor(
          async () => {
            // The previous failover may still be settling: a region it already moved needs no move.
            const now = (await cluster.routes()).find((x) => x.regionId === r.regionId);
            if (now?.leader !== victim) return true;
            // To the node holding the region's follower, as a failover promotes it; another node
            // would first load the region from the object store (seconds at these region sizes).
            const follower = r.followers.find((f) => others.includes(f.id))?.id;
            return adminPost(cluster.metasrvUrl, '/admin/migrate', {
              regionId: r.regionId,
              to: follower ?? others[i % others.length],
            });
          },
          `a migration of ${r.regionId} to start`,
          30_000,
        ),
      ),
    );
    await cluster.waitFor(
      async () => (await cluster.routes()).every((r) => r.leader !== victim),
      'the migration',
      120_000,
    );
    await writable(routes, `mig-${run}`);
    migrations.push((Date.now() - start) / 1000);

    // Every region has a follower before the kill, as above: a move onto the follower's node keeps
    // the old leader as the follower, so this is at once unless a region's old leader did not
    // downgrade (then the replica checker builds a follower from the object store).
    await waitForFollowers(cluster);
    routes = await cluster.routes();
    victim = routes[0].leader;
    start = Date.now();
    await cluster.kill(victim, 'SIGKILL');
    await cluster.waitFor(
      async () => (await cluster.routes()).every((r) => r.leader !== victim),
      'failover',
      120_000,
    );
    await writable(routes, `fo-${run}`);
    failovers.push((Date.now() - start) / 1000);
    cluster.startNode(Number(victim.split('-')[1]));
    await cluster.waitFor(
      async () => {
        const status = await (await fetch(`${cluster.metasrvUrl}/admin/status`)).json();
        return status.nodes.every((n) => n.state === 'alive');
      },
      'the node to rejoin',
      60_000,
    );
  }
  const baseline = `operator migration of the same regions (median of ${FAILOVER_RUNS})`;
  figures.push({
    ...figure(
      `failover median of ${FAILOVER_RUNS} (kill -9 → all regions writable)`,
      's',
      percentile(failovers, 50),
      baseline,
      percentile(migrations, 50),
    ),
    lowerIsBetter: true,
    // Every run's seconds, in order, for the outliers the median hides
    failovers,
    migrations,
  });
  figures.push({
    ...figure(
      `failover max of ${FAILOVER_RUNS}`,
      's',
      Math.max(...failovers),
      baseline,
      percentile(migrations, 50),
    ),
    lowerIsBetter: true,
  });
}

const redis = createRedis(REDIS_URL, 'client');
await waitForRedis(redis);
/** The limit server, while it runs. */
let limit;
const figures = [];
const step = (what) => console.error(`… ${what}`);
const metasrvPort = await freePort();
const cluster = await startCluster({
  dir: dir(),
  redisUrl: REDIS_URL,
  prefix,
  nodes: 3,
  metasrvPort,
  logLevel: 'warn',
  // Failover is measured against an operator's migration of the same regions: no balancing between.
  balance: false,
});
try {
  const client = new RegionStoreClient({ metasrv: cluster.metasrvUrl, retryTimeoutMs: 60_000 });
  step('raw RocksDB baselines');
  const raw = await rawRocks();
  step('raw XADD baselines');
  const xadd = await rawXadd(redis);
  limit = await startLimitServer();

  step('write path, against the limit server');
  // write path: client → HTTP → worker group → WAL → RocksDB
  for (const batch of [1, 16, 128]) {
    const [walBefore, limitBefore] = [await clusterWalStats(), await limit.stats()];
    const [ourLatencies, theirLatencies] = [[], []];
    const [ours, theirs, cpuSeconds] = await interleaved(
      () =>
        concurrently(
          writeOps(batch),
          batch,
          timedRequests(ourLatencies, (w, i) =>
            client.write(
              Array.from({ length: batch }, (_, j) => ({ op: 'put', key: key(w, i, j), value: VALUE })),
            ),
          ),
        ),
      () => limit.write(batch, theirLatencies),
    );
    const [walAfter, limitAfter] = [await clusterWalStats(), await limit.stats()];
    figures.push(figure(`cluster write, ${batch} op(s)/request`, 'ops/s', ours, 'limit server', theirs));
    // Three runs a side, each of the same number of operations
    const opsPerSide = 3 * Math.floor(writeOps(batch) / batch / CONCURRENCY) * CONCURRENCY * batch;
    figures.push({
      ...figure(
        `server CPU per op, ${batch}-op writes (the storage nodes)`,
        'µs',
        (cpuSeconds[0] / opsPerSide) * 1e6,
        'limit server',
        (cpuSeconds[1] / opsPerSide) * 1e6,
      ),
      lowerIsBetter: true,
    });
    figures.push({
      ...figure(
        `write p99, ${batch} op(s)/request`,
        'ms',
        percentile(ourLatencies, 99),
        'limit server',
        percentile(theirLatencies, 99),
      ),
      lowerIsBetter: true,
    });
    figures.push(
      figure(
        `cluster WAL entries per append, ${batch}-op writes`,
        'entries',
        (walAfter.entries - walBefore.entries) / (walAfter.appends - walBefore.appends),
        'limit server (one append per region per tick)',
        (limitAfter.entries - limitBefore.entries) / (limitAfter.appends - limitBefore.appends),
      ),
    );
    figures.push(
      figure(
        `cluster write, ${batch} op(s)/request`,
        'ops/s',
        ours,
        `raw RocksDB batch of ${batch}`,
        raw.put[batch],
      ),
    );
    figures.push(
      figure(
        `cluster write, ${batch} op(s)/request`,
        'ops/s',
        ours,
        `raw Redis XADD pipeline of ${batch}`,
        xadd[batch],
      ),
    );
  }

  step('read path, against the limit server');
  const keys = readKeys();
  const [get, limitGet] = await interleaved(
    () => concurrently(GET_KEYS, 1, (w, i) => client.get(keys[(w * 131 + i) % keys.length])),
    () => limit.get(),
  );
  figures.push(figure('cluster point get', 'keys/s', get, 'limit server', limitGet));
  figures.push(figure('cluster point get', 'keys/s', get, 'raw RocksDB get', raw.get));
  const [batchGet, limitBatchGet] = await interleaved(
    () =>
      concurrently(BATCH_GET_KEYS, 128, (w, i) =>
        client.batchGet(Array.from({ length: 128 }, (_, j) => keys[(w * 131 + i * 128 + j) % keys.length])),
      ),
    () => limit.batchGet(),
  );
  figures.push(figure('cluster batch get (128 keys)', 'keys/s', batchGet, 'limit server', limitBatchGet));
  figures.push(
    figure('cluster batch get (128 keys)', 'keys/s', batchGet, 'raw RocksDB batched get', raw.batchGet),
  );
  // the same through JSON bodies (base64), against the default msgpack bodies
  const jsonClient = new RegionStoreClient({
    metasrv: cluster.metasrvUrl,
    retryTimeoutMs: 60_000,
    wire: 'json',
  });
  const batchGetJson = await concurrently(40_000, 128, (w, i) =>
    jsonClient.batchGet(Array.from({ length: 128 }, (_, j) => keys[(w * 131 + i * 128 + j) % keys.length])),
  );
  figures.push(
    figure(
      'cluster batch get (128 keys), msgpack bodies',
      'keys/s',
      batchGet,
      'the same with JSON bodies',
      batchGetJson,
    ),
  );
  let scanned = 0;
  const scanSeconds = await timed(async () => {
    scanned = (await client.scan({ limit: 10_000 })).length;
  });
  figures.push(figure('cluster scan', 'keys/s', scanned / scanSeconds, 'raw RocksDB iterator', raw.scan));

  step('task round trip');
  // task round trip metasrv → node → metasrv, measured from a NodeTaskClient like the metasrv's
  const { NodeTaskClient } = require('../../apps/metasrv/dist/node-client.js');
  const { QueueNames } = await import('@regionstore/protocol');
  const { RegionId } = await import('@regionstore/core');
  const tasks = new NodeTaskClient(REDIS_URL, new QueueNames(prefix), 10_000);
  const taskTimes = [];
  for (let i = 0; i < 300; i++) {
    const start = process.hrtime.bigint();
    await tasks.call('node-1', 'downgrade-region', { regionId: new RegionId(999, i) });
    taskTimes.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  await tasks.close();
  const noop = await bullmqRoundTrip(300);
  figures.push({
    ...figure(
      'task round trip p50',
      'ms',
      percentile(taskTimes, 50),
      'BullMQ no-op job p50',
      percentile(noop, 50),
    ),
    lowerIsBetter: true,
  });
  figures.push({
    ...figure(
      'task round trip p99',
      'ms',
      percentile(taskTimes, 99),
      'BullMQ no-op job p99',
      percentile(noop, 99),
    ),
    lowerIsBetter: true,
  });

  if (FAILOVER_RUNS > 0) await failover(client, figures);
} finally {
  await limit?.stop();
  await cluster.stop();
  await dropKeys(redis, prefix);
  redis.disconnect();
  await redisServer.kill('SIGTERM').catch(() => undefined);
  rmSync(root, { recursive: true, force: true });
}
printTable(
  'cluster: metasrv + 3 storage nodes on this machine, 64 concurrent clients, 100-byte values',
  figures,
);
console.log('(ms and s rows: lower is better; the ratio is ours ÷ baseline)');
const file = writeResults(
  'cluster',
  'npm run bench -- cluster',
  { ops: OPS, concurrency: CONCURRENCY, nodes: 3, failoverRuns: FAILOVER_RUNS },
  figures,
);
console.log(`\nresults: ${file}`);

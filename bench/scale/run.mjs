// Scale benchmark (issue #27): what a cluster as `npm start` runs it (metasrv + 3 storage nodes, 8
// regions, separate processes, WAL durability `everysec` on a Redis with AOF `appendfsync everysec`)
// holds and costs as data grows, in one run: loaded through RegionStoreClient to each stage (default
// 128 MiB, 512 MiB, 2 GiB of key+value bytes acknowledged), then, with the load paused, Redis memory,
// the WAL streams, the object store and the node data dirs on disk, the bytes flushes wrote to the
// object store, and a kill -9 failover of the node leading the most regions. Baselines in the same run:
// raw XADD of 16 KiB entries on a second Redis with the same AOF setting, at every stage (the load
// rate's), the first stage's figures (how they scale), and the data loaded (the sizes').
//
//   npm run bench -- scale
//   REGIONSTORE_BENCH_SCALE_STAGES_MIB=16,64 node --expose-gc bench/scale/run.mjs   (a quick check)
//   REGIONSTORE_BENCH_KEEP=1 …   keeps the temp dir (cluster data, logs, both Redis AOFs)
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { RegionStoreClient } from '@regionstore/client';
import { RegionId } from '@regionstore/core';
import { createRedis, waitForRedis } from '@regionstore/runtime';
import { PrivateRedisServer } from '@regionstore/testing';
import { freePort } from '../lib/cluster.mjs';
import { du } from '../lib/disk.mjs';
import { figure, printTable, timed, writeResults } from '../lib/report.mjs';

const { startCluster } = createRequire(import.meta.url)('../../tools/cluster.cjs');

const MiB = 1024 * 1024;
const STAGES_MIB = parseStages(process.env.REGIONSTORE_BENCH_SCALE_STAGES_MIB ?? '128,512,2048');
const KEEP = process.env.REGIONSTORE_BENCH_KEEP === '1';
const NODES = 3;
const REGIONS = 8; // startCluster's default, as npm start
const VALUE_BYTES = 1024;
const PER_REQUEST = 16;
const IN_FLIGHT = 32;
const SETTLE_MS = 5000;
const PREFIX = 'regionstore-local'; // npm start's key prefix (this Redis is the run's own)
const RAW_ENTRY_BYTES = 16 * 1024;
const RAW_BYTES = Math.min(STAGES_MIB[0], 64) * MiB;
const REDIS_SETTINGS = ['--appendfsync', 'everysec']; // what npm start's own Redis runs with
const FAILOVER_TIMEOUT_MS = 120_000;
const POLL_MS = 1000;

function parseStages(text) {
  const stages = text.split(',').map((s) => Number(s.trim()));
  if (stages.length === 0 || stages.some((s, i) => !(s > 0) || (i > 0 && s <= stages[i - 1]))) {
    console.error(
      `REGIONSTORE_BENCH_SCALE_STAGES_MIB must be increasing positive MiB counts (e.g. 128,512,2048), not '${text}'`,
    );
    process.exit(2);
  }
  return stages;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mib = (bytes) => bytes / MiB;
const mb = (bytes) => bytes / 1e6;
const step = (what) => console.error(`… ${what}`);
const stageLabel = (m) => (m >= 1024 && m % 1024 === 0 ? `${m / 1024} GiB` : `${m} MiB`);
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length % 2
    ? sorted[(sorted.length - 1) / 2]
    : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
};

// ---- the run's state, all of it torn down by cleanup() ----
const root = mkdtempSync(join(tmpdir(), 'regionstore-bench-scale-'));
const clusterDir = join(root, 'cluster');
let walServer; // the cluster's Redis
let rawServer; // the baseline's Redis
let walRedis; // a connection to the cluster's Redis, for INFO and MEMORY USAGE
let rawRedis;
let cluster;
let client;
let probeClient;
let poller;
/** The first unexpected exit of a cluster process: every loop checks it and gives up. */
let fatal;
const checkFatal = () => {
  if (fatal) throw fatal;
};

let cleaning;
function cleanup() {
  cleaning ??= (async () => {
    poller?.stop();
    await client?.close().catch(() => undefined);
    await probeClient?.close().catch(() => undefined);
    await cluster?.stop().catch((err) => console.error(`stopping the cluster: ${err.message}`));
    walRedis?.disconnect();
    rawRedis?.disconnect();
    await walServer?.kill('SIGTERM').catch(() => undefined);
    await rawServer?.kill('SIGTERM').catch(() => undefined);
    if (KEEP) console.error(`kept ${root} (REGIONSTORE_BENCH_KEEP=1)`);
    else rmSync(root, { recursive: true, force: true });
  })();
  return cleaning;
}
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
]) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the cluster and both Redis servers …`);
    void cleanup().finally(() => process.exit(code));
  });
}

// ---- sizes on disk ----

/** The object store on disk, in total and per region (`snapshots|deltas|manifests/<region>/…`). */
async function objectStoreSizes() {
  const files = [];
  const total = await du(join(clusterDir, 'objects'), files);
  const byRegion = {};
  const byKind = {};
  for (const f of files) {
    const [kind, region] = f.rel.split(sep);
    byKind[kind] = (byKind[kind] ?? 0) + f.size;
    if (region !== undefined && f.rel.split(sep).length > 2)
      byRegion[region] = (byRegion[region] ?? 0) + f.size;
  }
  return { total, byKind, byRegion, files: files.length };
}

/**
 * Every object file that appears in the object store, polled every second: a lower bound of the bytes
 * written there (an object written and deleted between two polls is missed), as a cross-check of the
 * nodes' counter, and the only figure when a node's build lacks it. Temp files of in-flight writes
 * (`.rs-tmp-…`) are skipped; a name written again (a new inode) counts again, a hard link does not.
 */
function startObjectPoller() {
  const seen = new Map();
  let running = false;
  let bytes = 0;
  const poll = async () => {
    if (running) return;
    running = true;
    try {
      const files = [];
      await du(join(clusterDir, 'objects'), files);
      for (const f of files) {
        if (f.name.startsWith('.rs-tmp-')) continue;
        // By inode: a hard link (a split child's copy) wrote nothing; a new file is a new inode.
        const id = `${f.ino}:${f.mtimeMs}`;
        const before = seen.get(id) ?? 0;
        if (f.size > before) {
          bytes += f.size - before;
          seen.set(id, f.size);
        }
      }
    } catch {
      // a directory vanished mid-walk; the next poll sees the rest
    } finally {
      running = false;
    }
  };
  const timer = setInterval(poll, POLL_MS);
  return {
    async read() {
      while (running) await sleep(20);
      await poll();
      return bytes;
    },
    stop: () => clearInterval(timer),
  };
}

// ---- the cluster's own figures ----

async function getJson(url) {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  return response.json();
}

const status = () => getJson(`${cluster.metasrvUrl}/admin/status`);
const routes = () => getJson(`${cluster.metasrvUrl}/v1/routes`).then((r) => r.routes);

const FLUSH_METRIC = 'regionstore_worker_group_flush_written_bytes_total';
/**
 * Per node, `regionstore_worker_group_flush_written_bytes_total` by kind from its /metrics, or null
 * when the node does not export it (a build before the counter). A node's counters restart at 0 when
 * the node does: `counterBase` keeps what each had before its kill.
 */
const counterBase = new Map();
async function flushWritten(node) {
  const text = await (await fetch(`${node.address}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  if (!text.includes(FLUSH_METRIC)) return null;
  const byKind = {};
  for (const m of text.matchAll(new RegExp(`^${FLUSH_METRIC}\\{([^}]*)\\} (\\S+)$`, 'gm'))) {
    const kind = /kind="([^"]*)"/.exec(m[1])?.[1] ?? 'unlabelled';
    byKind[kind] = (byKind[kind] ?? 0) + Number(m[2]);
  }
  return byKind;
}
async function flushWrittenByNode(nodes) {
  const out = {};
  for (const node of nodes) {
    const now = await flushWritten(node);
    const base = counterBase.get(node.id) ?? {};
    out[node.id] =
      now === null
        ? null
        : Object.fromEntries(
            [...new Set([...Object.keys(now), ...Object.keys(base)])].map((k) => [
              k,
              (now[k] ?? 0) + (base[k] ?? 0),
            ]),
          );
  }
  return out;
}

/** MEMORY USAGE (all samples) and XLEN of every WAL stream (`*:wal:{<region>}:log`). */
async function walStreams() {
  const streams = {};
  let cursor = '0';
  do {
    const [next, keys] = await walRedis.scan(cursor, 'MATCH', '*:wal:*:log', 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const region = /:wal:\{([^}]*)\}:log$/.exec(key)?.[1] ?? key;
      const [bytes, entries] = await Promise.all([
        walRedis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'),
        walRedis.xlen(key),
      ]);
      streams[region] = { bytes: Number(bytes ?? 0), entries };
    }
  } while (cursor !== '0');
  return streams;
}

async function usedMemory() {
  const info = await walRedis.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1]);
}

// ---- the load ----

let keyCounter = 0;
const loaded = { bytes: 0, keys: 0, byFirstByte: new Array(256).fill(0), writeBufferFull: 0 };

/** A write, retried while a node refuses it with WriteBufferFull (the client does not retry that). */
async function write(mutations) {
  for (;;) {
    try {
      return await client.write(mutations);
    } catch (err) {
      if (err?.code !== 'WriteBufferFull') throw err;
      loaded.writeBufferFull++;
      checkFatal();
      await sleep(100);
    }
  }
}

/**
 * Loads until `target` bytes (keys + values) are acknowledged: IN_FLIGHT loops of writes of
 * PER_REQUEST puts of 1 KiB random values; each key's first byte is uniform random (the bootstrap
 * splits the key space by first byte, so every region gets its share), then a global counter. Returns
 * the seconds it took.
 */
async function loadUntil(target) {
  let issued = loaded.bytes;
  return timed(() =>
    Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (issued < target) {
          checkFatal();
          const random = randomBytes(VALUE_BYTES * PER_REQUEST + PER_REQUEST);
          const mutations = [];
          let bytes = 0;
          for (let j = 0; j < PER_REQUEST; j++) {
            const key = Buffer.from(`.k${String(keyCounter++).padStart(11, '0')}`);
            key[0] = random[VALUE_BYTES * PER_REQUEST + j];
            const value = random.subarray(j * VALUE_BYTES, (j + 1) * VALUE_BYTES);
            mutations.push({ op: 'put', key, value });
            bytes += key.length + value.length;
          }
          issued += bytes;
          await write(mutations);
          loaded.bytes += bytes;
          loaded.keys += PER_REQUEST;
          for (const m of mutations) loaded.byFirstByte[m.key[0]] += m.key.length + m.value.length;
        }
      }),
    ),
  );
}

// ---- the baselines ----

/** Raw XADD of RAW_BYTES as 16 KiB entries, IN_FLIGHT in flight, into one stream; MB/s. */
async function rawXadd(run) {
  const stream = `raw-xadd-${run}`;
  const entry = randomBytes(RAW_ENTRY_BYTES);
  const count = Math.ceil(RAW_BYTES / RAW_ENTRY_BYTES);
  let next = 0;
  const seconds = await timed(() =>
    Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < count) {
          next++;
          await rawRedis.xadd(stream, '*', 'd', entry);
        }
      }),
    ),
  );
  await rawRedis.unlink(stream);
  return mb(count * RAW_ENTRY_BYTES) / seconds;
}

// ---- failover ----

const inRange = (key, route) =>
  Buffer.compare(key, route.start) >= 0 && (route.end.length === 0 || Buffer.compare(key, route.end) < 0);
const decodeRoute = (r) => ({
  ...r,
  start: Buffer.from(r.start, 'base64'),
  end: Buffer.from(r.end, 'base64'),
});

/** A key inside `route`'s range: its start (or 0x00 for the first region) + a tag. */
function probeKey(route, tag) {
  const key = Buffer.concat([
    route.start.length > 0 ? route.start : Buffer.from([0]),
    Buffer.from(`\0probe-${tag}`),
  ]);
  if (!inRange(key, route))
    throw new Error(`probe key ${key.toString('hex')} is outside region ${route.regionId}`);
  return key;
}

/**
 * kill -9 of the node leading the most regions; per region it led, the seconds from the kill until a
 * put of a probe key in that region is acknowledged and a get returns it (a put+get loop with a short
 * client retry timeout). Then the node starts again and the cluster is waited for: the node alive, every
 * route with an address and an alive leader.
 */
async function failover(tag) {
  const before = (await routes()).map(decodeRoute);
  const counts = new Map();
  for (const r of before) counts.set(r.leader, (counts.get(r.leader) ?? 0) + 1);
  const [victim, led] = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0];
  const regions = before.filter((r) => r.leader === victim);
  // Its counters die with it: keep what they said (the load is paused, so they hold still).
  const victimNode = (await status()).nodes.find((n) => n.id === victim);
  const last = victimNode ? await flushWritten(victimNode).catch(() => null) : null;
  if (last) {
    const base = counterBase.get(victim) ?? {};
    for (const [k, v] of Object.entries(last)) base[k] = (base[k] ?? 0) + v;
    counterBase.set(victim, base);
  }
  step(`failover: kill -9 ${victim} (leads ${led} of ${before.length} regions)`);
  const start = performance.now();
  await cluster.kill(victim, 'SIGKILL');
  const deadline = Date.now() + FAILOVER_TIMEOUT_MS;
  const perRegion = await Promise.all(
    regions.map(async (route) => {
      const key = probeKey(route, tag);
      let writableAt;
      let lastError;
      for (let attempt = 0; ; attempt++) {
        checkFatal();
        if (Date.now() > deadline)
          throw new Error(
            `region ${route.regionId} not writable and readable ${FAILOVER_TIMEOUT_MS / 1000} s after the kill of ${victim}` +
              (lastError ? `: ${lastError.message}` : ''),
          );
        const value = Buffer.from(`${tag}-${attempt}`);
        try {
          await probeClient.put(key, value);
          writableAt ??= performance.now();
          const got = await probeClient.get(key);
          if (got?.equals(value))
            return {
              regionId: route.regionId,
              writableSeconds: (writableAt - start) / 1000,
              seconds: (performance.now() - start) / 1000,
            };
        } catch (err) {
          lastError = err;
          await sleep(20);
        }
      }
    }),
  );
  const seconds = perRegion.map((r) => r.seconds);
  step(
    `failover: every region of ${victim} writable and readable after ${Math.max(...seconds).toFixed(2)} s; restarting it`,
  );
  cluster.startNode(Number(victim.split('-')[1]));
  const rejoinStart = performance.now();
  await cluster.waitFor(
    async () => {
      checkFatal();
      const [s, r] = await Promise.all([status(), routes()]);
      const alive = new Set(s.nodes.filter((n) => n.state === 'alive').map((n) => n.id));
      return alive.has(victim) && r.length > 0 && r.every((x) => x.address && alive.has(x.leader));
    },
    `${victim} to rejoin and every route to have an alive leader`,
    FAILOVER_TIMEOUT_MS,
  );
  return {
    victim,
    regionsLed: led,
    maxSeconds: Math.max(...seconds),
    medianSeconds: median(seconds),
    perRegion,
    rejoinSeconds: (performance.now() - rejoinStart) / 1000,
  };
}

// ---- one stage's measurements ----

async function measure(stageMib) {
  const [s, r] = [await status(), (await routes()).map(decodeRoute)];
  const nodes = s.nodes.filter((n) => n.state === 'alive');
  const [used, streams, objects, written, polled] = [
    await usedMemory(),
    await walStreams(),
    await objectStoreSizes(),
    await flushWrittenByNode(nodes),
    await poller.read(),
  ];
  const nodeDirs = {};
  for (let i = 1; i <= NODES; i++) nodeDirs[`node-${i}`] = await du(join(clusterDir, `node-${i}`));
  const redisDir = await du(walServer.dir);
  const missing = Object.entries(written)
    .filter(([, v]) => v === null)
    .map(([id]) => id);
  const kinds = {};
  for (const v of Object.values(written))
    for (const [k, n] of Object.entries(v ?? {})) kinds[k] = (kinds[k] ?? 0) + n;
  // Per region: what the client loaded into it (by key first byte; exact while boundaries are
  // single-byte, as the bootstrap makes them), its WAL stream, its objects.
  const regions = r.map((route) => {
    const value = RegionId.parse(route.regionId).value.toString();
    let loadedBytes = 0;
    for (let b = 0; b < 256; b++) if (inRange(Buffer.from([b]), route)) loadedBytes += loaded.byFirstByte[b];
    return {
      regionId: route.regionId,
      start: route.start.toString('hex'),
      end: route.end.toString('hex'),
      leader: route.leader,
      loadedBytes,
      // RocksDB's estimate, as the region's leader last reported it (null: not reported yet)
      approximateSizeBytes:
        s.regions.find((x) => x.regionId === route.regionId)?.approximateSizeBytes ?? null,
      walStreamBytes: streams[value]?.bytes ?? 0,
      walStreamEntries: streams[value]?.entries ?? 0,
      objectStoreBytes: objects.byRegion[value] ?? 0,
    };
  });
  return {
    stageMib,
    dataLoadedBytes: loaded.bytes,
    keys: loaded.keys,
    redisUsedMemory: used,
    redisDirBytes: redisDir,
    walStreamsBytes: Object.values(streams).reduce((n, x) => n + x.bytes, 0),
    walStreamsEntries: Object.values(streams).reduce((n, x) => n + x.entries, 0),
    walStreamCount: Object.keys(streams).length,
    objectStoreBytes: objects.total,
    objectStoreByKind: objects.byKind,
    objectStoreFiles: objects.files,
    nodeDirsBytes: Object.values(nodeDirs).reduce((a, b) => a + b, 0),
    nodeDirs,
    flushWrittenByNode: written,
    flushWrittenByKind: kinds,
    flushWrittenBytes: missing.length === NODES ? null : Object.values(kinds).reduce((a, b) => a + b, 0),
    flushMetricMissingOn: missing,
    objectBytesSeenWritten: polled,
    regionCount: r.length,
    regions,
    nodeLeaders: Object.fromEntries(
      s.nodes.map((n) => [n.id, { leaders: n.leaders, regions: n.regions, state: n.state }]),
    ),
  };
}

// ---- the run ----

const figures = [];
const stages = [];
let exitCode = 0;
try {
  step(`two private redis-servers (AOF appendfsync everysec) in ${root}`);
  walServer = await PrivateRedisServer.start(join(root, 'redis'), REDIS_SETTINGS);
  rawServer = await PrivateRedisServer.start(join(root, 'redis-raw'), REDIS_SETTINGS);
  walRedis = createRedis(walServer.url, 'client');
  rawRedis = createRedis(rawServer.url, 'client');
  await Promise.all([waitForRedis(walRedis), waitForRedis(rawRedis)]);

  step('starting the cluster: metasrv + 3 storage nodes, 8 regions, default durability (everysec)');
  cluster = await startCluster({
    dir: clusterDir,
    redisUrl: walServer.url,
    prefix: PREFIX,
    nodes: NODES,
    metasrvPort: await freePort(),
    logLevel: 'warn',
  });
  cluster.onUnexpectedExit(({ name, code, signal, log, lines }) => {
    fatal ??= new Error(
      `${name} exited unexpectedly (${signal ?? `code ${code}`}); last lines of ${log}:\n${lines}`,
    );
  });
  poller = startObjectPoller();
  client = new RegionStoreClient({ metasrv: cluster.metasrvUrl, retryTimeoutMs: 60_000 });
  probeClient = new RegionStoreClient({
    metasrv: cluster.metasrvUrl,
    retryTimeoutMs: 250,
    requestTimeoutMs: 5000,
  });

  let loadSeconds = 0;
  for (const stageMib of STAGES_MIB) {
    const label = stageLabel(stageMib);
    const from = loaded.bytes;
    step(`loading to ${label}`);
    const seconds = await loadUntil(stageMib * MiB);
    loadSeconds += seconds;
    const rate = mb(loaded.bytes - from) / seconds;
    step(`${label}: ${rate.toFixed(1)} MB/s; settling ${SETTLE_MS / 1000} s`);
    await sleep(SETTLE_MS);
    checkFatal();
    const m = await measure(stageMib);
    step(`${label}: raw XADD baseline`);
    const raw = await rawXadd(stages.length);
    const fo = await failover(`s${stages.length}`);
    stages.push({ label, loadSeconds: seconds, loadMBps: rate, rawXaddMBps: raw, ...m, failover: fo });
  }

  // ---- figures ----
  const first = stages[0];
  const rawName = `raw Redis XADD, ${RAW_ENTRY_BYTES / 1024} KiB entries, ${IN_FLIGHT} in flight, AOF everysec (same stage)`;
  const size = (name, value, data, baselineName = 'data loaded') => ({
    ...figure(name, 'MiB', mib(value), baselineName, mib(data)),
    lowerIsBetter: true,
  });
  for (const s of stages) {
    const at = `${s.label}:`;
    const data = s.dataLoadedBytes;
    figures.push({
      ...figure(`${at} load rate`, 'MB/s', s.loadMBps, rawName, s.rawXaddMBps),
      stage: s.label,
    });
    figures.push({
      ...figure(`${at} load rate`, 'MB/s', s.loadMBps, `load rate to ${first.label}`, first.loadMBps),
      stage: s.label,
    });
    figures.push({ ...size(`${at} Redis used_memory`, s.redisUsedMemory, data), stage: s.label });
    figures.push({
      ...size(`${at} WAL streams (MEMORY USAGE, ${s.walStreamCount})`, s.walStreamsBytes, data),
      stage: s.label,
    });
    figures.push({ ...size(`${at} object store on disk`, s.objectStoreBytes, data), stage: s.label });
    figures.push({
      ...size(`${at} node data dirs on disk (${NODES})`, s.nodeDirsBytes, data),
      stage: s.label,
    });
    if (s.flushWrittenBytes !== null) {
      for (const kind of Object.keys(s.flushWrittenByKind).sort())
        figures.push({
          ...size(
            `${at} object-store bytes written, ${kind}`,
            s.flushWrittenByKind[kind],
            data,
            'data ingested',
          ),
          stage: s.label,
        });
      figures.push({
        ...size(`${at} object-store bytes written, total`, s.flushWrittenBytes, data, 'data ingested'),
        stage: s.label,
      });
    }
    figures.push({
      ...size(
        `${at} object files seen written (1 s dir poll, lower bound)`,
        s.objectBytesSeenWritten,
        data,
        'data ingested',
      ),
      stage: s.label,
    });
    const fo = `kill -9 ${s.failover.victim}, ${s.failover.regionsLed} regions → each writable + readable`;
    figures.push({
      ...figure(
        `${at} failover max (${fo})`,
        's',
        s.failover.maxSeconds,
        `failover max at ${first.label}`,
        first.failover.maxSeconds,
      ),
      lowerIsBetter: true,
      stage: s.label,
    });
    figures.push({
      ...figure(
        `${at} failover median`,
        's',
        s.failover.medianSeconds,
        `failover median at ${first.label}`,
        first.failover.medianSeconds,
      ),
      lowerIsBetter: true,
      stage: s.label,
    });
  }

  // ---- the issue's table ----
  const x = (v, data) => `${(v / data).toFixed(2)}×`;
  const m1 = (v) => `${mib(v).toFixed(mib(v) >= 100 ? 0 : 1)} MiB`;
  const header = [
    'data loaded',
    'load rate',
    'Redis used_memory',
    'WAL streams',
    'object store',
    'node data dirs',
    'object-store bytes written / ingested',
    'failover (max)',
  ];
  const rows = stages.map((s) => {
    const d = s.dataLoadedBytes;
    const written =
      s.flushWrittenBytes === null
        ? `n/a (no ${FLUSH_METRIC} on any node); dir poll ≥ ${m1(s.objectBytesSeenWritten)} (${x(s.objectBytesSeenWritten, d)})`
        : s.flushWrittenBytes === 0
          ? `0 MiB (no flush yet)${s.flushMetricMissingOn.length ? `, missing on ${s.flushMetricMissingOn.join(', ')}` : ''}`
          : `${Object.keys(s.flushWrittenByKind)
              .sort()
              .map((k) => `${k} ${m1(s.flushWrittenByKind[k])}`)
              .join(' + ')} = ${m1(s.flushWrittenBytes)} (${x(s.flushWrittenBytes, d)})${
              s.flushMetricMissingOn.length ? `, missing on ${s.flushMetricMissingOn.join(', ')}` : ''
            }`;
    return [
      `${s.label} (${s.keys.toLocaleString('en-US')} keys)`,
      `${s.loadMBps.toFixed(1)} MB/s (${(s.loadMBps / s.rawXaddMBps).toFixed(2)} of raw XADD ${s.rawXaddMBps.toFixed(0)} MB/s; ${(s.loadMBps / first.loadMBps).toFixed(2)} of ${first.label})`,
      `${m1(s.redisUsedMemory)} (${x(s.redisUsedMemory, d)})`,
      `${m1(s.walStreamsBytes)} in ${s.walStreamCount}, ${s.walStreamsEntries.toLocaleString('en-US')} entries (${x(s.walStreamsBytes, d)})`,
      `${m1(s.objectStoreBytes)}, ${s.objectStoreFiles} files (${x(s.objectStoreBytes, d)})`,
      `${m1(s.nodeDirsBytes)} (${x(s.nodeDirsBytes, d)})`,
      written,
      `${s.failover.maxSeconds.toFixed(2)} s (median ${s.failover.medianSeconds.toFixed(2)} s; ${s.failover.victim}, ${s.failover.regionsLed} regions)`,
    ];
  });
  printTable(
    `scale: npm start's cluster (metasrv + ${NODES} nodes, ${REGIONS} regions, everysec on AOF everysec), ` +
      `${PER_REQUEST} × ${VALUE_BYTES} B puts per write, ${IN_FLIGHT} in flight`,
    figures,
  );
  console.log('(MiB and s rows: lower is better; the ratio is ours ÷ baseline)');
  console.log('\nissue #27 (ratios to data loaded in parentheses):\n');
  markdown(header, rows);
  console.log(
    '\nregions per stage (loaded by the client; size as the leader reports it; WAL stream and objects as measured):\n',
  );
  markdown(
    ['stage', 'region', 'range (hex)', 'leader', 'loaded', 'size', 'WAL stream', 'WAL entries', 'objects'],
    stages.flatMap((s) =>
      s.regions.map((r) => [
        s.label,
        r.regionId,
        `${r.start || '−∞'}‥${r.end || '+∞'}`,
        r.leader,
        m1(r.loadedBytes),
        r.approximateSizeBytes === null ? '−' : m1(r.approximateSizeBytes),
        m1(r.walStreamBytes),
        String(r.walStreamEntries),
        m1(r.objectStoreBytes),
      ]),
    ),
  );
  const missingAnywhere = [...new Set(stages.flatMap((s) => s.flushMetricMissingOn))];
  if (missingAnywhere.length)
    console.log(
      `\nnote: ${FLUSH_METRIC} missing on ${missingAnywhere.join(', ')} (a build before the counter?)`,
    );
  if (loaded.writeBufferFull)
    console.log(`note: ${loaded.writeBufferFull} writes refused with WriteBufferFull, retried`);

  const file = writeResults(
    'scale',
    'npm run bench -- scale',
    {
      stagesMib: STAGES_MIB,
      nodes: NODES,
      regions: REGIONS,
      durability: 'everysec (node default)',
      redis: 'private redis-server, AOF appendfsync everysec',
      valueBytes: VALUE_BYTES,
      putsPerWrite: PER_REQUEST,
      writesInFlight: IN_FLIGHT,
      settleMs: SETTLE_MS,
      rawXadd: { bytes: RAW_BYTES, entryBytes: RAW_ENTRY_BYTES, inFlight: IN_FLIGHT },
      loadSeconds,
      writeBufferFullRetries: loaded.writeBufferFull,
      stages,
    },
    figures,
  );
  console.log(`\nresults: ${file}`);
} catch (err) {
  console.error(`\nscale benchmark failed: ${err?.stack ?? err}`);
  exitCode = 1;
} finally {
  await cleanup();
}
process.exit(exitCode);

function markdown(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  console.log(line(header));
  console.log(`| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`);
  for (const row of rows) console.log(line(row));
}

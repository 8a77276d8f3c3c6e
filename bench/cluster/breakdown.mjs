// Where the CPU of a write goes (issue #30): a cluster as `npm start` runs it (private redis-server
// with AOF everysec, WAL durability everysec, followers on), driven through RegionStoreClient with
// N-op writes (64 in flight, 100-byte values). After a warm-up (so the JIT has settled) it measures:
//   - every process's CPU per written key, from /proc (the storage nodes' main threads apart from
//     their other threads: libuv's pool running RocksDB writes, RocksDB's own threads, V8's GC and
//     compiler helpers), Redis, the metasrv and the client (this process);
//   - with `perf` on the machine, a sampled profile of the storage nodes (all threads, JS frames named
//     through --perf-basic-prof), each sample put in the phase of the write path it belongs to.
//
//   node bench/cluster/breakdown.mjs [ops per write, default 128] [seconds, default 15] [warm-up s, 20]
//   → bench/profiles/<date>-breakdown-<ops>op.md
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitForFollowers, withPrivateCluster } from '../lib/cluster.mjs';

const OPS = Number(process.argv[2] ?? 128);
const SECONDS = Number(process.argv[3] ?? 15);
const WARM_UP = Number(process.argv[4] ?? 20);
const CONCURRENCY = 64;
const VALUE = Buffer.alloc(100, 7);
const OUT = resolve(import.meta.dirname, '..', 'profiles');
const date = new Date().toISOString().slice(0, 10);
const root = mkdtempSync(join(tmpdir(), 'regionstore-bench-breakdown-'));
const step = (what) => console.error(`… ${what}`);
const hasPerf = (() => {
  try {
    execFileSync('perf', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/**
 * The phase a sample belongs to: the outermost frame of the stack that names one (so GC and native
 * work count for the JS that caused them when the stack shows it), else what the native frames are.
 */
const PHASES = [
  ['follower apply (WAL tail → engine)', /follower-tailer\.js|follower-apply\.js/],
  [
    'flush (region snapshot or delta files)',
    /background-jobs\.js|snapshot-file\.js|delta-file\.js|region-snapshot\.js/,
  ],
  ['leader write path (validate, WAL append, MVCC encode, engine write)', /write-handler\.js/],
  ['request parsing (msgpack, zod)', /http-errors\.js|wire-format\.js:1[0-9]:/],
  ['HTTP routing and replies', /http-api\.js|wire-format\.js|fastify|find-my-way/],
  ['heartbeats, leases, metrics', /heartbeat\.js|region-leases\.js|prom-client/],
];
const NATIVE = [
  [
    'V8 garbage collection (not attributable)',
    /Scaveng|MarkCompact|Heap::|Sweeper|Marking|ArrayBufferSweeper/,
  ],
  ['V8 optimizing compiler', /compiler::|Compile|Turbofan|Maglev/],
  ['RocksDB memtable inserts and log (libuv pool)', /DBImpl::WriteImpl|rocksdb_write|WriteBatchInternal/],
  ['RocksDB flush and compaction', /FlushJob|BGWorkFlush|Compaction/],
  ['RocksDB reads and iterators', /Iterator|rocksdb_iterator|rocksdb_read|DBImpl::Get|MultiGet/],
  ['socket I/O outside JS', /uv__read|uv__write|uv__stream_io|writev|uv_try_write/],
  [
    'memory allocation (malloc/free)',
    /^(_int_malloc|malloc|_int_free|cfree|malloc_consolidate|unlink_chunk|sysmalloc)/,
  ],
];

function phaseOf(frames) {
  for (let i = frames.length - 1; i >= 0; i--) {
    for (const [name, pattern] of PHASES) if (pattern.test(frames[i])) return name;
  }
  const stack = frames.join(' ');
  for (const [name, pattern, leafOnly] of NATIVE)
    if (pattern.test(leafOnly ? (frames[0] ?? '') : stack)) return name;
  if (frames.some((f) => f.startsWith('JS:')))
    return 'other JavaScript (Node.js internals, ioredis, msgpackr, …)';
  return 'other native (kernel, libc, V8 runtime)';
}

/** Sample counts by phase from `perf script` output (leaf frame first in each stack). */
function phases(perfData) {
  const text = execFileSync('perf', ['script', '-i', perfData, '-F', 'pid,tid,ip,sym'], {
    maxBuffer: 1 << 30,
    stdio: ['ignore', 'pipe', 'ignore'],
  }).toString();
  const counts = new Map();
  let total = 0;
  for (const sample of text.split('\n\n')) {
    const lines = sample.split('\n').filter((l) => l.trim());
    if (lines.length === 0) continue;
    const frames = lines.slice(1).map((l) => l.trim().replace(/^[0-9a-f]+\s+/, ''));
    const phase = phaseOf(frames);
    counts.set(phase, (counts.get(phase) ?? 0) + 1);
    total++;
  }
  return { counts, total };
}

/** CPU ticks of every thread of a process, the main thread apart. */
function threadTicks(pid) {
  const out = { main: 0, other: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out[tid === String(pid) ? 'main' : 'other'] += Number(fields[11]) + Number(fields[12]);
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** The storage nodes measured (their perf maps are removed afterwards). */
const nodePids = [];
const machineTicks = () =>
  readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1).map(Number);

async function measure(client, cluster, redisPid) {
  const pidsOf = (prefix) =>
    [...cluster.processes].filter(([name]) => name.startsWith(prefix)).map(([, child]) => child.pid);
  const nodes = pidsOf('node-');
  const metasrv = pidsOf('metasrv');
  nodePids.push(...nodes);
  const snapshot = () => ({
    nodes: nodes.map(threadTicks),
    redis: threadTicks(redisPid),
    metasrv: metasrv.map(threadTicks),
    client: process.cpuUsage(),
    machine: machineTicks(),
  });
  let n = 0;
  let written = 0;
  let measuring = false;
  let stopped = false;
  const load = Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, w) => {
      while (!stopped) {
        const i = n++;
        await client.write(
          Array.from({ length: OPS }, (_, j) => ({
            op: 'put',
            key: Buffer.from([(w * 37 + i * 11 + j) % 256, ...Buffer.from(`-${w}-${i}-${j}`)]),
            value: VALUE,
          })),
        );
        if (measuring) written += OPS;
      }
    }),
  );
  await sleep(WARM_UP * 1000);
  // A fresh cluster adds each region's follower once the region has a flush to copy: under load,
  // that is during the warm-up. Measured from when every region has one.
  await waitForFollowers(cluster);
  const before = snapshot();
  measuring = true;
  const perfData = join(root, 'perf.data');
  const perf = hasPerf
    ? spawn(
        'perf',
        ['record', '-F', '499', '-g', '-o', perfData, '-p', nodes.join(','), '--', 'sleep', String(SECONDS)],
        {
          stdio: 'ignore',
        },
      )
    : undefined;
  await sleep(SECONDS * 1000);
  const after = snapshot();
  measuring = false;
  stopped = true;
  await load;
  if (perf) await new Promise((done) => (perf.exitCode === null ? perf.once('exit', done) : done()));
  const tick = 1e6 / 100; // µs per clock tick (USER_HZ 100)
  const perKey = (ticks) => (ticks * tick) / written;
  const sum = (list, pick) => list.reduce((s, t) => s + pick(t), 0);
  const nodeMain = sum(after.nodes, (t) => t.main) - sum(before.nodes, (t) => t.main);
  const nodeOther = sum(after.nodes, (t) => t.other) - sum(before.nodes, (t) => t.other);
  const redis = after.redis.main + after.redis.other - before.redis.main - before.redis.other;
  const meta = sum(after.metasrv, (t) => t.main + t.other) - sum(before.metasrv, (t) => t.main + t.other);
  const clientUs =
    (after.client.user + after.client.system - before.client.user - before.client.system) / written;
  const machine = after.machine.map((v, i) => v - before.machine[i]);
  const busy = 1 - (machine[3] + machine[4]) / machine.reduce((a, b) => a + b, 0);
  return {
    rate: written / SECONDS,
    busy,
    rows: [
      ['storage nodes, main threads', perKey(nodeMain)],
      ['storage nodes, other threads', perKey(nodeOther)],
      ['redis-server', perKey(redis)],
      ['metasrv', perKey(meta)],
      ['client (RegionStoreClient, this process)', clientUs],
    ],
    nodeUs: perKey(nodeMain + nodeOther),
    perf: perf ? phases(perfData) : undefined,
  };
}

try {
  mkdirSync(OUT, { recursive: true });
  step(
    `${OPS}-op writes: ${WARM_UP} s warm-up, then ${SECONDS} s measured${hasPerf ? ' under perf' : ' (no perf here: no phases)'}`,
  );
  const result = await withPrivateCluster(
    root,
    { nodes: 3, nodeFlags: hasPerf ? ['--perf-basic-prof-only-functions'] : [] },
    async ({ cluster, client, redis }) => {
      const redisPid = Number(/process_id:(\d+)/.exec(await redis.info('server'))[1]);
      return measure(client, cluster, redisPid);
    },
  );
  const lines = [
    `# Where the CPU of a ${OPS}-op write goes (${date})`,
    '',
    `\`node bench/cluster/breakdown.mjs ${OPS} ${SECONDS} ${WARM_UP}\`: a cluster as npm start runs it, ${CONCURRENCY} writes in flight through RegionStoreClient, 100-byte values; ${SECONDS} s measured after ${WARM_UP} s of warm-up. ${Math.round(result.rate).toLocaleString('en-US')} keys/s; the machine (${cpus().length} cores) ${Math.round(result.busy * 100)} % busy.`,
    '',
    '| process | CPU µs per written key |',
    '|---|---|',
    ...result.rows.map(([what, us]) => `| ${what} | ${us.toFixed(1)} |`),
    '',
  ];
  if (result.perf) {
    const { counts, total } = result.perf;
    lines.push(
      `Storage nodes by phase (perf, ${total.toLocaleString('en-US')} samples at 499 Hz over all threads; µs per key = share × ${result.nodeUs.toFixed(1)} µs):`,
      '',
      '| phase | share | µs per key |',
      '|---|---|---|',
      ...[...counts]
        .sort((a, b) => b[1] - a[1])
        .map(
          ([phase, c]) =>
            `| ${phase} | ${((100 * c) / total).toFixed(1)} % | ${((c / total) * result.nodeUs).toFixed(1)} |`,
        ),
      '',
    );
  }
  const report = lines.join('\n');
  writeFileSync(join(OUT, `${date}-breakdown-${OPS}op.md`), report);
  console.log(report);
} finally {
  rmSync(root, { recursive: true, force: true });
  // --perf-basic-prof leaves one symbol map per node process
  for (const pid of nodePids) rmSync(`/tmp/perf-${pid}.map`, { force: true });
}

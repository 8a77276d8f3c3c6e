// Durability benchmark: what each `wal.durability` mode costs. For every mode a redis-server of its own
// runs with the settings the mode needs (fsync: AOF always; everysec: AOF everysec; replicas: a replica
// attached and WAIT 1 after each append; unsafe: no AOF), and the same run measures on that server:
// fenced WAL appends (RedisLogStore, 64 concurrent appenders over 8 regions) against a raw XADD pipeline
// of the same shape, and against the WAL's appends in `unsafe` mode. `npm run bench -- durability`
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegionId } from '@regionstore/core';
import { createRedis, waitForRedis } from '@regionstore/runtime';
import { RedisLogStore, walMinReplicas } from '@regionstore/log-store';
import { PrivateRedisServer } from '@regionstore/testing';
import { concurrently as concurrentLoad } from '../lib/load.mjs';
import { figure, median, printTable, writeResults } from '../lib/report.mjs';

const CONCURRENCY = 64;
const REGIONS = 8;
const BATCHES = [1, 16];
const OPS = Number(process.env.BENCH_OPS ?? 20_000);
const RUNS = 3;
const VALUE = Buffer.alloc(100, 7);
const root = mkdtempSync(join(tmpdir(), 'regionstore-bench-durability-'));
let dirs = 0;
const dir = () => join(root, String(dirs++));

const MODES = {
  unsafe: ['--appendonly', 'no'],
  everysec: ['--appendfsync', 'everysec'],
  fsync: [],
  replicas: ['--appendonly', 'no', '--repl-diskless-sync-delay', '0'],
};

const concurrently = (batch, request) => concurrentLoad(OPS, batch, CONCURRENCY, request);

/** A redis-server with the mode's settings (and, for `replicas`, a replica in sync). */
async function serverFor(mode) {
  const servers = [await PrivateRedisServer.start(dir(), MODES[mode])];
  const redis = createRedis(servers[0].url, 'client');
  await waitForRedis(redis);
  if (mode === 'replicas') {
    servers.push(
      await PrivateRedisServer.start(dir(), [
        '--appendonly',
        'no',
        '--replicaof',
        '127.0.0.1',
        String(servers[0].port),
      ]),
    );
    while ((await redis.wait(1, 1000)) < 1) await new Promise((r) => setTimeout(r, 100));
  }
  return {
    redis,
    async stop() {
      redis.disconnect();
      for (const server of servers) await server.kill('SIGTERM');
    },
  };
}

let round = 0;
async function walAppends(redis, mode, batch) {
  const prefix = `bench-${round++}`;
  const wal = new RedisLogStore(redis, {
    prefix,
    minReplicas: walMinReplicas({ durability: mode, minReplicas: 1 }),
    replicaTimeoutMs: 5000,
  });
  const regions = Array.from({ length: REGIONS }, (_, n) => new RegionId(1, n));
  const fence = { nodeId: 'bench', epoch: 1 };
  for (const region of regions) await wal.setFence(region, fence);
  const entries = Array.from({ length: batch }, () => VALUE);
  // One append per writer at a time per region, as the worker group sends them.
  return concurrently(batch, (writer) => wal.append(regions[writer % REGIONS], entries, fence));
}

async function rawXadd(redis, mode, batch) {
  const stream = `raw-${round++}`;
  return concurrently(batch, async (writer) => {
    const pipeline = redis.pipeline();
    for (let j = 0; j < batch; j++) pipeline.xadd(`${stream}:${writer % REGIONS}`, '*', 'd', VALUE);
    if (mode === 'replicas') pipeline.wait(1, 5000);
    await pipeline.exec();
  });
}

const figures = [];
const unsafeRate = {};
try {
  for (const mode of Object.keys(MODES)) {
    const server = await serverFor(mode);
    try {
      for (const batch of BATCHES) {
        const ours = await median(RUNS, () => walAppends(server.redis, mode, batch));
        const raw = await median(RUNS, () => rawXadd(server.redis, mode, batch));
        const what = `WAL appends, ${mode}, ${batch} entr${batch === 1 ? 'y' : 'ies'}/append`;
        figures.push(
          figure(
            what,
            'entries/s',
            ours,
            `raw XADD pipeline of ${batch}${mode === 'replicas' ? ' + WAIT 1' : ''}, same server`,
            raw,
          ),
        );
        if (mode === 'unsafe') unsafeRate[batch] = ours;
        else figures.push(figure(what, 'entries/s', ours, `WAL appends, unsafe (no AOF)`, unsafeRate[batch]));
      }
    } finally {
      await server.stop();
    }
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
printTable(
  `WAL durability modes: ${CONCURRENCY} concurrent appenders, ${REGIONS} regions, 100-byte entries`,
  figures,
);
const file = writeResults(
  'durability',
  'npm run bench -- durability',
  { ops: OPS, concurrency: CONCURRENCY, regions: REGIONS, runs: RUNS, valueBytes: VALUE.length },
  figures,
);
console.log(`\nresults: ${file}`);

// YCSB core workloads A, B, C, F, E (zipfian, 1 KB records) against a local cluster (metasrv + 3
// storage nodes, separate processes) through the client, as `regionctl bench --workload` runs them.
// Baseline in the same run: the same workloads, keys and client concurrency against rocksdb-native in
// this process (no network, no WAL, no MVCC). Also reported: ops/s per core of this machine, p99 per
// operation, and TiKV's published go-ycsb figures per vCPU for scale. `npm run bench -- ycsb`
import 'reflect-metadata';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import RocksDB from 'rocksdb-native';
import { RegionStoreClient } from '@regionstore/client';
import { createRedis } from '@regionstore/runtime';
import { dropKeys, freePort } from '../lib/cluster.mjs';
import { figure, printTable, writeResults } from '../lib/report.mjs';

const require = createRequire(import.meta.url);
const { startCluster } = require('../../tools/cluster.cjs');
const { YcsbKeys, loadRecords, runWorkload } = require('../../apps/cli/dist/ycsb.js');
const { clientStore, regionPrefixes } = require('../../apps/cli/dist/bench.js');

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const RECORDS = Number(process.env.YCSB_RECORDS ?? 100_000);
const OPERATIONS = Number(process.env.YCSB_OPERATIONS ?? 100_000);
const CONCURRENCY = 64;
const WORKLOADS = ['a', 'b', 'c', 'f', 'e']; // YCSB's order: E inserts, so it runs last
const CORES = os.cpus().length;
/**
 * TiKV's go-ycsb figures (3 TiKV nodes × 40 vCPU, 120 vCPU): workload C 212,000 reads/s, workload A
 * 43,200 updates/s; per vCPU about 1,770 and 360.
 */
const TIKV_PER_VCPU = { c: { op: 'read', perVcpu: 1770 }, a: { op: 'update', perVcpu: 360 } };
const prefix = `rs-bench-ycsb-${process.pid}`;
const root = mkdtempSync(join(os.tmpdir(), 'regionstore-bench-ycsb-'));
const options = {
  records: RECORDS,
  operations: OPERATIONS,
  concurrency: CONCURRENCY,
  valueSize: 1000,
  cores: CORES,
};
const step = (what) => console.error(`… ${what}`);

/** rocksdb-native as a YCSB store: the floor under any store built on it. */
function rocksStore(db) {
  return {
    async read(key) {
      return (await db.get(key)) ?? undefined;
    },
    async write(entries) {
      const batch = db.write({ capacity: entries.length });
      for (const e of entries) batch.tryPut(e.key, e.value);
      await batch.flush();
      batch.destroy();
    },
    async scan(start, end, limit) {
      let n = 0;
      for await (const _ of db.iterator({ gte: start, lt: end, limit }, { capacity: limit })) n++;
      return n;
    },
  };
}

async function runAll(store, keys) {
  await loadRecords(store, keys, options);
  const results = {};
  for (const workload of WORKLOADS) {
    step(`workload ${workload}`);
    results[workload] = await runWorkload(store, keys, workload, options);
  }
  return results;
}

const redis = createRedis(REDIS_URL, 'client');
const cluster = await startCluster({
  durability: 'unsafe', // REDIS_URL is whatever Redis runs here; bench/durability measures the modes
  dir: join(root, 'cluster'),
  redisUrl: REDIS_URL,
  prefix,
  nodes: 3,
  metasrvPort: await freePort(),
  logLevel: 'warn',
});
const figures = [];
const details = {};
try {
  const client = new RegionStoreClient({ metasrv: cluster.metasrvUrl, retryTimeoutMs: 60_000 });
  const prefixes = await regionPrefixes(client, 'ycsb');
  const keys = new YcsbKeys(prefixes);
  step(`cluster: load ${RECORDS} records`);
  const ours = await runAll(clientStore(client), keys);
  await client.close();

  step('raw RocksDB baseline');
  const db = new RocksDB(join(root, 'raw'));
  await db.ready();
  const raw = await runAll(rocksStore(db), keys);
  await db.close();

  for (const workload of WORKLOADS) {
    const result = ours[workload];
    const tikv = TIKV_PER_VCPU[workload];
    const extra = {
      opsPerSecPerCore: result.opsPerSecPerCore,
      p99Ms: Object.fromEntries(Object.entries(result.latency).map(([op, l]) => [op, l.p99Ms])),
      ...(tikv
        ? {
            tikv: {
              op: tikv.op,
              oursPerCore: Math.round(result.latency[tikv.op].count / result.seconds / CORES),
              tikvPerVcpu: tikv.perVcpu,
            },
          }
        : {}),
    };
    details[workload] = { ours: result, raw: raw[workload] };
    figures.push({
      ...figure(
        `YCSB ${workload.toUpperCase()} (${Object.keys(result.latency).join('/')})`,
        'ops/s',
        result.opsPerSec,
        'raw RocksDB, same workload in-process',
        raw[workload].opsPerSec,
      ),
      ...extra,
    });
  }
} finally {
  await cluster.stop();
  await dropKeys(redis, prefix);
  redis.disconnect();
  rmSync(root, { recursive: true, force: true });
}
printTable(
  `YCSB: ${RECORDS} records of 1 KB, ${OPERATIONS} operations per workload, ${CONCURRENCY} in flight, zipfian`,
  figures,
);
console.log('\nper core of this machine, p99, and TiKV go-ycsb per vCPU:');
for (const f of figures) {
  const tikv = f.tikv
    ? `; ${f.tikv.op}s/s per core ${f.tikv.oursPerCore} vs TiKV ${f.tikv.tikvPerVcpu}/vCPU`
    : '';
  console.log(`  ${f.name}: ${f.opsPerSecPerCore} ops/s/core, p99 ${JSON.stringify(f.p99Ms)} ms${tikv}`);
}
const file = writeResults(
  'ycsb',
  'npm run bench -- ycsb',
  { records: RECORDS, operations: OPERATIONS, concurrency: CONCURRENCY, nodes: 3, cores: CORES, details },
  figures,
);
console.log(`\nresults: ${file}`);

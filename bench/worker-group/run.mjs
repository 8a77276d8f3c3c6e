// Worker-group benchmark: acknowledged writes through the worker group (validate → fenced WAL append on
// Redis → RocksDB batch → reply) against raw RocksDB batch writes and raw Redis XADD pipelines of the
// same shape, measured in the same run. `npm run bench -- worker-group`
import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import RocksDB from 'rocksdb-native';
import { RegionId, keyRange } from '@regionstore/core';
import { createRedis, silentLogger, waitForRedis } from '@regionstore/runtime';
import { RocksEngine } from '@regionstore/engine';
import { RedisLogStore } from '@regionstore/log-store';
import { RegionRunner } from '@regionstore/region-runner';
import { LocalStorage } from '@regionstore/storage-backends';
import { WorkerGroup } from '@regionstore/worker-group';
import { concurrently as concurrentLoad } from '../lib/load.mjs';
import { figure, median, printTable, writeResults } from '../lib/report.mjs';
import { dropKeys } from '../lib/cluster.mjs';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const CONCURRENCY = 64;
const BATCHES = [1, 16, 128];
const OPS = Number(process.env.BENCH_OPS ?? 60_000);
const RUNS = 3;
const VALUE = Buffer.alloc(100, 7);
const REGIONS = 8;
const prefix = `rs-bench-wg-${process.pid}`;
const root = mkdtempSync(join(tmpdir(), 'regionstore-bench-wg-'));
let dirs = 0;
const dir = () => join(root, String(dirs++));
const key = (writer, i, j) =>
  Buffer.from(`w${String(writer).padStart(3, '0')}-${String(i).padStart(8, '0')}-${j}`);

const concurrently = (batch, request) => concurrentLoad(OPS, batch, CONCURRENCY, request);

async function rawRocks(batch) {
  const db = new RocksDB(dir());
  await db.ready();
  const result = await concurrently(batch, async (writer, i) => {
    const w = db.write({ capacity: batch });
    for (let j = 0; j < batch; j++) w.tryPut(key(writer, i, j), VALUE);
    await w.flush();
    w.destroy();
  });
  await db.close();
  return result;
}

async function rawRedis(redis, batch) {
  const stream = `${prefix}:raw:${batch}`;
  const result = await concurrently(batch, async (writer, i) => {
    const pipeline = redis.pipeline();
    for (let j = 0; j < batch; j++)
      pipeline.xadd(`${stream}:${writer % REGIONS}`, '*', 'd', key(writer, i, j));
    await pipeline.exec();
  });
  return result;
}

async function workerGroup(redis, batch, round) {
  const engine = await RocksEngine.open({ path: dir() });
  const storage = new LocalStorage(dir());
  const runner = new RegionRunner({ engine, storage });
  const group = WorkerGroup.start({
    nodeId: 'bench',
    engine,
    wal: new RedisLogStore(redis, { prefix: `${prefix}:${batch}:${round}` }),
    storage,
    runner,
    config: { numWorkers: 4, globalWriteBufferSize: 4 * 1024 * 1024 * 1024 },
    logger: silentLogger(),
  });
  const regions = Array.from({ length: REGIONS }, (_, n) => new RegionId(1, n));
  const all = keyRange(Buffer.alloc(0), Buffer.alloc(0));
  for (const regionId of regions)
    await group.ddl(regionId, { type: 'create', range: all, epoch: { version: 1, confVer: 1 } });
  const result = await concurrently(batch, async (writer, i) => {
    const mutations = Array.from({ length: batch }, (_, j) => ({
      op: 'put',
      key: key(writer, i, j),
      value: VALUE,
    }));
    await group.write({ regionId: regions[writer % REGIONS], mutations });
  });
  await group.stop();
  await runner.stop();
  await engine.close();
  return result;
}

const redis = createRedis(REDIS_URL, 'client');
await waitForRedis(redis);
const figures = [];
try {
  for (const batch of BATCHES) {
    let round = 0;
    const ours = await median(RUNS, () => workerGroup(redis, batch, round++));
    const rocks = await median(RUNS, () => rawRocks(batch));
    const xadd = await median(RUNS, () => rawRedis(redis, batch));
    figures.push(
      figure(`worker group, ${batch} op(s)/write`, 'ops/s', ours, `raw RocksDB batch of ${batch}`, rocks),
    );
    figures.push(
      figure(
        `worker group, ${batch} op(s)/write`,
        'ops/s',
        ours,
        `raw Redis XADD pipeline of ${batch}`,
        xadd,
      ),
    );
    await dropKeys(redis, prefix);
  }
} finally {
  await dropKeys(redis, prefix);
  redis.disconnect();
  rmSync(root, { recursive: true, force: true });
}
printTable(
  `worker group: acknowledged writes, ${CONCURRENCY} concurrent writers, ${REGIONS} regions, 100-byte values`,
  figures,
);
const file = writeResults(
  'worker-group',
  'npm run bench -- worker-group',
  { ops: OPS, concurrency: CONCURRENCY, regions: REGIONS, runs: RUNS, valueBytes: VALUE.length },
  figures,
);
console.log(`\nresults: ${file}`);

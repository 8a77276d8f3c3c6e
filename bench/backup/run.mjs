// Backup and restore of a cluster holding one region larger than the node's memory budget, with no
// compression, lz4 and zstd: MB/s against raw fsync'd disk writes of the same bytes, and the node's RSS
// while it backs up (peak ÷ start; the backup streams, so it should stay flat).
// `npm run bench -- backup` (BENCH_BACKUP_MB sets the data size, default 256).
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegionStoreClient } from '@regionstore/client';
import { composeTimestamp } from '@regionstore/core';
import { createRedis, waitForRedis } from '@regionstore/runtime';
import { adminPost, dropKeys, freePort } from '../lib/cluster.mjs';
import { concurrently, rawDiskWrite } from '../lib/load.mjs';
import { sampleRss } from '../lib/memory.mjs';
import { figure, printTable, timed, writeResults } from '../lib/report.mjs';

const require = createRequire(import.meta.url);
const { startCluster } = require('../../tools/cluster.cjs');
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const DATA_MB = Number(process.env.BENCH_BACKUP_MB ?? 256);
const BUDGET_MB = 64; // the node's write buffer budget: the region is 4× larger
const VALUE_SIZE = 4096;
const BATCH = 32;
const LOADERS = 8;
// A whole number of rounds of LOADERS requests of BATCH keys.
const KEYS = Math.ceil((DATA_MB * 1e6) / VALUE_SIZE / (BATCH * LOADERS)) * BATCH * LOADERS;
const prefix = `rs-bench-backup-${process.pid}`;
const root = mkdtempSync(join(tmpdir(), 'regionstore-bench-backup-'));
let dirs = 0;
const dir = () => join(root, String(dirs++));
const step = (what) => console.error(`… ${what}`);
const key = (i) => Buffer.from(`backup-${String(i).padStart(10, '0')}`);
// Half random, half repeated: compresses about 2:1, like typical values.
const valueOf = (i) => Buffer.concat([randomBytes(VALUE_SIZE / 2), Buffer.alloc(VALUE_SIZE / 2, i % 251)]);
const MB = (bytes) => bytes / 1e6;

/** A one-node cluster with a single region and a small memory budget. */
async function oneNodeCluster(n) {
  return startCluster({
    durability: 'unsafe', // REDIS_URL is whatever Redis runs here; bench/durability measures the modes
    dir: dir(),
    redisUrl: REDIS_URL,
    prefix: `${prefix}-${n}`,
    nodes: 1,
    initialRegions: 1,
    metasrvPort: await freePort(),
    logLevel: 'warn',
    allowedStorage: [`local://${root}`],
    nodeEnv: { REGIONSTORE_WORKER_GROUP__GLOBAL_WRITE_BUFFER_SIZE: String(BUDGET_MB * 1024 * 1024) },
  });
}

const redis = createRedis(REDIS_URL, 'client');
await waitForRedis(redis);
const figures = [];
const clusters = [];
const parameters = { dataMB: DATA_MB, memoryBudgetMB: BUDGET_MB, valueSize: VALUE_SIZE, keys: KEYS };
try {
  const source = await oneNodeCluster(0);
  clusters.push(source);
  const client = new RegionStoreClient({ metasrv: source.metasrvUrl, retryTimeoutMs: 120_000 });
  step(`loading ${DATA_MB} MB into one region`);
  const logicalBytes = KEYS * (key(0).length + VALUE_SIZE);
  await concurrently(KEYS, BATCH, LOADERS, (w, i) => {
    const first = (i * LOADERS + w) * BATCH;
    return client.write(
      Array.from({ length: BATCH }, (_, j) => ({
        op: 'put',
        key: key(first + j),
        value: valueOf(first + j),
      })),
    );
  });
  const node = source.processes.get('node-1');

  for (const compression of ['none', 'lz4', 'zstd']) {
    step(`backup (${compression})`);
    const target = `local://${dir()}`;
    const memory = sampleRss(node.pid);
    let record;
    const seconds = await timed(async () => {
      record = await adminPost(source.metasrvUrl, '/admin/backup', {
        storage: target,
        endVersion: composeTimestamp(Date.now()).toString(),
        compressionType: compression,
      });
    });
    const rss = memory.stop();
    if (record.status !== 'Done') throw new Error(`backup failed: ${JSON.stringify(record)}`);
    parameters[`${compression}FileMB`] = Math.round(MB(record.bytes));
    const disk = await rawDiskWrite(join(dir(), 'raw.bin'), record.bytes);
    figures.push(
      figure(
        `backup, ${compression} (${Math.round(MB(record.bytes))} MB of files)`,
        'MB/s of data',
        MB(logicalBytes) / seconds,
        'raw fs write + fsync of the same files’ bytes',
        MB(logicalBytes) / (MB(record.bytes) / disk), // the files written at raw disk speed
      ),
    );
    figures.push({
      ...figure(
        `node RSS during the ${compression} backup, peak`,
        'MB',
        MB(rss.peak),
        'RSS at its start',
        MB(rss.start),
      ),
      lowerIsBetter: true,
    });

    step(`restore (${compression}) into a new cluster`);
    const target2 = await oneNodeCluster(clusters.length);
    clusters.push(target2);
    const restoreSeconds = await timed(async () => {
      const restored = await adminPost(target2.metasrvUrl, '/admin/restore', { storage: target });
      if (restored.status !== 'Done' || restored.kvs !== KEYS) {
        throw new Error(`restore failed: ${JSON.stringify(restored)}`);
      }
    });
    const writeDisk = await rawDiskWrite(join(dir(), 'raw.bin'), logicalBytes);
    figures.push(
      figure(
        `restore, ${compression}`,
        'MB/s of data',
        MB(logicalBytes) / restoreSeconds,
        'raw fs write + fsync of the data’s bytes',
        writeDisk,
      ),
    );
    await target2.stop();
  }
} finally {
  for (const cluster of clusters) await cluster.stop();
  await dropKeys(redis, prefix);
  redis.disconnect();
  rmSync(root, { recursive: true, force: true });
}
printTable(
  `backup: one node, one region of ${DATA_MB} MB (memory budget ${BUDGET_MB} MB), ${VALUE_SIZE}-byte values`,
  figures,
);
console.log('(MB rows: lower is better; the ratio is ours ÷ baseline)');
console.log(`\nresults: ${writeResults('backup', 'npm run bench -- backup', parameters, figures)}`);

// #6's question: should the backup endpoint's workers be async tasks (what we ship) or worker threads?
// One RocksDB with BENCH_BW_MB (default 128) MB of versions in 8 regions is backed up to a local
// directory by (a) the BackupEndpoint, async tasks, 1/2/4 workers, and (b) a thread variant: the main
// thread (the only one that can hold the RocksDB handle) scans each range and streams its entries to
// one of 2 worker threads, which encode, compress, hash and write the file. Both are compared with
// a raw fsync'd write of the same bytes. `npm run bench -- backup-workers`
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { BackupEndpoint, BackupTask, StaticRegionInfoProvider } from '@regionstore/backup';
import {
  ManualTimeProvider,
  RegionId,
  TimestampAllocator,
  composeTimestamp,
  keyRange,
} from '@regionstore/core';
import {
  ConcurrencyManager,
  RocksEngine,
  WriteBatch,
  encodeVersion,
  mvccScan,
  writeVersion,
} from '@regionstore/engine';
import { backupRequestSchema } from '@regionstore/protocol';
import { rawDiskWrite } from '../lib/load.mjs';
import { figure, median, printTable, timed, writeResults } from '../lib/report.mjs';

const DATA_MB = Number(process.env.BENCH_BW_MB ?? 128);
const VALUE_SIZE = 4096;
const REGIONS = 8;
const THREADS = 2;
const KEYS = Math.ceil((DATA_MB * 1e6) / VALUE_SIZE);
const root = mkdtempSync(join(tmpdir(), 'regionstore-bench-backup-workers-'));
let dirs = 0;
const dir = () => join(root, String(dirs++));
const step = (what) => console.error(`… ${what}`);
const MB = (bytes) => bytes / 1e6;
const BACKUP_TS = composeTimestamp(2_000_000);

const regions = Array.from({ length: REGIONS }, (_, i) => ({
  regionId: new RegionId(1, i + 1),
  range: keyRange(
    i === 0 ? Buffer.alloc(0) : Buffer.from([i]),
    i === REGIONS - 1 ? Buffer.alloc(0) : Buffer.from([i + 1]),
  ),
  epochVersion: 1,
  role: 'Leader',
}));

const engine = await RocksEngine.open({ path: dir() });
step(`writing ${DATA_MB} MB in ${REGIONS} regions`);
for (let i = 0; i < KEYS; i += 256) {
  const batch = new WriteBatch();
  for (let j = i; j < Math.min(KEYS, i + 256); j++) {
    const value = Buffer.concat([randomBytes(VALUE_SIZE / 2), Buffer.alloc(VALUE_SIZE / 2, j % 251)]);
    const key = Buffer.concat([Buffer.from([j % REGIONS]), Buffer.from(`-${String(j).padStart(10, '0')}`)]);
    writeVersion(batch, { key, ts: composeTimestamp(1_000_000, j % 1000), value });
  }
  await engine.write(batch);
}
await engine.compactRange('default', Buffer.alloc(0), Buffer.alloc(0));
const logicalBytes = KEYS * (VALUE_SIZE + 12);

async function asyncTasks(numThreads, compression) {
  const regionInfo = new StaticRegionInfoProvider();
  regionInfo.setRegions(regions);
  const endpoint = new BackupEndpoint({
    storeId: '1',
    engine,
    regionInfo,
    concurrency: new ConcurrencyManager(new TimestampAllocator(new ManualTimeProvider(3_000_000))),
    config: { numThreads },
  });
  const task = BackupTask.create(
    backupRequestSchema.parse({
      endVersion: BACKUP_TS.toString(),
      storage: `local://${dir()}`,
      compressionType: compression,
    }),
  );
  let bytes = 0;
  const seconds = await timed(async () => {
    endpoint.run(task);
    for await (const response of task.responses()) {
      if (response.error) throw new Error(response.error.message);
      for (const file of response.files) bytes += file.size;
    }
  });
  endpoint.stop();
  return { seconds, bytes };
}

async function workerThreads(compression) {
  const workers = Array.from(
    { length: THREADS },
    () => new Worker(new URL('./encoder.mjs', import.meta.url)),
  );
  // Ready (modules loaded) before the clock starts: a real pool would be long-lived.
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once('online', resolve))));
  const waiting = new Map(); // id → { acked, done, fail }
  for (const worker of workers) {
    worker.on('message', (m) => {
      const entry = waiting.get(m.id);
      if (m.type === 'ack') entry.acked();
      else if (m.type === 'done') entry.done(m);
      else if (m.type === 'error') entry.fail(new Error(m.message));
    });
  }
  const storage = `local://${dir()}`;
  let bytes = 0;
  const backupRange = async (region, index) => {
    const worker = workers[index % THREADS];
    const id = index;
    let inFlight = 0;
    let wake;
    const finished = new Promise((resolve, reject) => {
      waiting.set(id, {
        acked: () => {
          inFlight--;
          wake?.();
        },
        done: resolve,
        fail: reject,
      });
    });
    worker.postMessage({ type: 'file', id, storage, name: `r${index}.rsst`, compression });
    const snapshot = engine.snapshot();
    // Entries travel packed in one buffer whose memory is transferred, not copied: [u32 len, bytes]…
    let parts = [];
    let batchBytes = 0;
    const send = async () => {
      while (inFlight >= 4) await new Promise((r) => (wake = r));
      inFlight++;
      const packed = Buffer.allocUnsafeSlow(batchBytes);
      let at = 0;
      for (const part of parts) {
        packed.writeUInt32BE(part.length, at);
        part.copy(packed, at + 4);
        at += 4 + part.length;
      }
      worker.postMessage({ type: 'entries', id, packed }, [packed.buffer]);
      parts = [];
      batchBytes = 0;
    };
    for await (const version of mvccScan(snapshot, region.range, BACKUP_TS, { batchSize: 1024 })) {
      const entry = encodeVersion(version);
      parts.push(entry.key, entry.value);
      batchBytes += 8 + entry.key.length + entry.value.length;
      if (batchBytes >= 1 << 20) await send();
    }
    if (parts.length > 0) await send();
    worker.postMessage({ type: 'end', id });
    await snapshot.release();
    bytes += (await finished).size;
  };
  const seconds = await timed(async () => {
    // as many ranges in flight as threads, like the endpoint's workers
    let next = 0;
    await Promise.all(
      workers.map(async () => {
        while (next < regions.length) {
          const index = next++;
          await backupRange(regions[index], index);
        }
      }),
    );
  });
  await Promise.all(workers.map((w) => w.terminate()));
  return { seconds, bytes };
}

const figures = [];
const parameters = { dataMB: DATA_MB, regions: REGIONS, valueSize: VALUE_SIZE, threads: THREADS, runs: 3 };
try {
  for (const compression of ['lz4', 'zstd']) {
    let fileBytes = 0;
    const variants = [
      ...[1, 2, 4].map((n) => [`async tasks, ${n} worker(s)`, () => asyncTasks(n, compression)]),
      [`${THREADS} worker threads (main thread scans)`, () => workerThreads(compression)],
    ];
    const speeds = [];
    for (const [name, run] of variants) {
      step(`${compression}: ${name}`);
      const mbps = await median(3, async () => {
        const { seconds, bytes } = await run();
        fileBytes = bytes;
        return MB(logicalBytes) / seconds;
      });
      speeds.push([name, mbps]);
    }
    const disk = await rawDiskWrite(join(dir(), 'raw.bin'), fileBytes);
    const rawSpeed = MB(logicalBytes) / (MB(fileBytes) / disk);
    for (const [name, mbps] of speeds) {
      figures.push(
        figure(
          `backup ${compression}, ${name}`,
          'MB/s of data',
          mbps,
          'raw fs write + fsync of the files',
          rawSpeed,
        ),
      );
    } // The question itself: threads against the async tasks at the same worker count.
    const threads = speeds.at(-1)[1];
    const tasks = speeds.find(([name]) => name.startsWith(`async tasks, ${THREADS} `))[1];
    figures.push(
      figure(
        `backup ${compression}: ${THREADS} worker threads`,
        'MB/s of data',
        threads,
        `${THREADS} async tasks`,
        tasks,
      ),
    );
  }
} finally {
  await engine.close();
  rmSync(root, { recursive: true, force: true });
}
printTable(
  `backup workers: ${DATA_MB} MB in ${REGIONS} regions of one RocksDB, to a local directory`,
  figures,
);
console.log(
  `\nresults: ${writeResults('backup-workers', 'npm run bench -- backup-workers', parameters, figures)}`,
);

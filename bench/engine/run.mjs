// Engine benchmark: RocksEngine and the .rsst file format against the raw binding and raw disk,
// measured in the same run. `npm run bench -- engine`
import {
  closeSync,
  createReadStream,
  createWriteStream,
  fsyncSync,
  mkdtempSync,
  openSync,
  rmSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import RocksDB from 'rocksdb-native';
import { CF_DEFAULT, RocksEngine, WriteBatch, mvccGet, putVersion } from '@regionstore/engine';
import { SnapshotFileReader, writeSnapshotFile } from '@regionstore/region-files';
import { figure, median, printTable, timed, writeResults } from '../lib/report.mjs';

const N = Number(process.env.BENCH_KEYS ?? 200_000);
const BATCH = 100;
const VALUE = Buffer.alloc(100, 7);
const RUNS = 3;
const FILE_MB = Number(process.env.BENCH_FILE_MB ?? 128);
const key = (i) => Buffer.from(`key${String(i).padStart(10, '0')}`);
const order = Array.from({ length: N }, (_, i) => i);
for (let i = order.length - 1; i > 0; i--) {
  const j = Math.floor(Math.random() * (i + 1));
  [order[i], order[j]] = [order[j], order[i]];
}

const root = mkdtempSync(join(tmpdir(), 'regionstore-bench-engine-'));
let dirs = 0;
const dir = () => join(root, String(dirs++));

async function rawPut() {
  const db = new RocksDB(dir());
  await db.ready();
  const seconds = await timed(async () => {
    for (let i = 0; i < N; i += BATCH) {
      const w = db.write({ capacity: BATCH });
      for (let j = i; j < i + BATCH; j++) w.tryPut(key(j), VALUE);
      await w.flush();
      w.destroy();
    }
  });
  return { db, opsPerSec: N / seconds };
}

async function enginePut() {
  const engine = await RocksEngine.open({ path: dir() });
  const seconds = await timed(async () => {
    for (let i = 0; i < N; i += BATCH) {
      const batch = new WriteBatch();
      for (let j = i; j < i + BATCH; j++) batch.put(CF_DEFAULT, key(j), VALUE);
      await engine.write(batch);
    }
  });
  return { engine, opsPerSec: N / seconds };
}

const figures = [];
const rawPuts = [];
const enginePuts = [];
let raw;
let engine;
for (let r = 0; r < RUNS; r++) {
  // Interleave the two so drift on a shared machine hits both alike.
  const a = await rawPut();
  const b = await enginePut();
  rawPuts.push(a.opsPerSec);
  enginePuts.push(b.opsPerSec);
  if (r < RUNS - 1) {
    await a.db.close();
    await b.engine.close();
  } else {
    raw = a.db;
    engine = b.engine;
  }
}
const mid = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
figures.push(
  figure('batch put (100/batch)', 'keys/s', mid(enginePuts), 'raw rocksdb-native batch', mid(rawPuts)),
);

const rawBatchGet = await median(RUNS, async () => {
  const s = await timed(async () => {
    for (let i = 0; i < N; i += BATCH) {
      const r = raw.read({ capacity: BATCH });
      const ps = [];
      for (let j = i; j < i + BATCH; j++) ps.push(r.get(key(order[j])));
      r.tryFlush();
      await Promise.all(ps);
      r.destroy();
    }
  });
  return N / s;
});
const engineBatchGet = await median(RUNS, async () => {
  const s = await timed(async () => {
    for (let i = 0; i < N; i += BATCH) {
      const keys = [];
      for (let j = i; j < i + BATCH; j++) keys.push(key(order[j]));
      await engine.getMany(CF_DEFAULT, keys);
    }
  });
  return N / s;
});
figures.push(
  figure(
    'batched point get (100/batch)',
    'keys/s',
    engineBatchGet,
    'raw rocksdb-native read batch',
    rawBatchGet,
  ),
);

const singles = N / 10;
const rawGet = await median(
  RUNS,
  async () =>
    singles /
    (await timed(async () => {
      for (let i = 0; i < singles; i++) await raw.get(key(order[i]));
    })),
);
const engineGet = await median(
  RUNS,
  async () =>
    singles /
    (await timed(async () => {
      for (let i = 0; i < singles; i++) await engine.get(CF_DEFAULT, key(order[i]));
    })),
);
figures.push(figure('point get (one at a time)', 'keys/s', engineGet, 'raw rocksdb-native get', rawGet));

const rawScan = await median(RUNS, async () => {
  let n = 0;
  const s = await timed(async () => {
    for await (const _ of raw.iterator({}, { capacity: 256 })) n++;
  });
  return n / s;
});
const engineScan = await median(RUNS, async () => {
  let n = 0;
  const s = await timed(async () => {
    for await (const _ of engine.iterate(CF_DEFAULT)) n++;
  });
  return n / s;
});
figures.push(figure('range scan', 'keys/s', engineScan, 'raw rocksdb-native iterator', rawScan));

// MVCC: the same keys as versions; a read at a past ts is a bounded seek, the latest a point get.
const mvccEngine = await RocksEngine.open({ path: dir() });
for (let i = 0; i < N; i += BATCH) {
  const batch = new WriteBatch();
  for (let j = i; j < i + BATCH; j++) putVersion(batch, key(j), 100n, VALUE);
  await mvccEngine.write(batch);
}
const mvccRead = await median(
  RUNS,
  async () =>
    singles /
    (await timed(async () => {
      for (let i = 0; i < singles; i++) await mvccGet(mvccEngine, key(order[i]), 200n);
    })),
);
figures.push(figure('MVCC get at ts', 'keys/s', mvccRead, 'raw rocksdb-native get', rawGet));
// The latest version, what nearly every read asks for: one point get in the `latest` column family.
const mvccLatest = await median(
  RUNS,
  async () =>
    singles /
    (await timed(async () => {
      for (let i = 0; i < singles; i++) await mvccGet(mvccEngine, key(order[i]));
    })),
);
figures.push(figure('MVCC get latest', 'keys/s', mvccLatest, 'raw rocksdb-native get', rawGet));
await mvccEngine.close();
await engine.close();
await raw.close();

// File format: write then read FILE_MB of entries through .rsst against raw sequential disk I/O.
const bytes = FILE_MB * 1024 * 1024;
const valueSize = 4096;
const count = Math.floor(bytes / valueSize);
// Half random, half repeated: compressible about 2:1, like typical row data, not like zeros.
const pool = randomBytes(1024 * 1024);
function* entries() {
  const value = Buffer.alloc(valueSize);
  for (let i = 0; i < count; i++) {
    pool.copy(value, 0, (i * 2048) % (pool.length - 2048), ((i * 2048) % (pool.length - 2048)) + 2048);
    value.writeUInt32BE(i, 0);
    const k = Buffer.alloc(8);
    k.writeUInt32BE(i, 4);
    yield { key: k, value };
  }
}
async function fsyncFile(path) {
  const fd = openSync(path, 'r+');
  fsyncSync(fd);
  closeSync(fd);
}
for (const compression of ['none', 'lz4', 'zstd']) {
  const rawFile = join(root, `raw-${compression}.bin`);
  const rawWrite = await median(RUNS, async () => {
    const s = await timed(async () => {
      const chunk = randomBytes(64 * 1024);
      const out = createWriteStream(rawFile);
      for (let written = 0; written < count * (valueSize + 16); written += chunk.length) {
        if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
      }
      await new Promise((r) => out.end(r));
      await fsyncFile(rawFile);
    });
    return FILE_MB / s;
  });
  const rawRead = await median(
    RUNS,
    async () =>
      FILE_MB /
      (await timed(async () => {
        for await (const _ of createReadStream(rawFile, { highWaterMark: 64 * 1024 }));
      })),
  );
  const file = join(root, `snap-${compression}.rsst`);
  const fileWrite = await median(RUNS, async () => {
    const s = await timed(async () => {
      const { stream } = writeSnapshotFile(entries(), { compression });
      await pipeline(stream, createWriteStream(file));
      await fsyncFile(file);
    });
    return FILE_MB / s;
  });
  const fileRead = await median(
    RUNS,
    async () =>
      FILE_MB /
      (await timed(async () => {
        const reader = new SnapshotFileReader(createReadStream(file, { highWaterMark: 64 * 1024 }), file);
        for await (const _ of reader.entries());
      })),
  );
  figures.push(figure(`.rsst write (${compression})`, 'MB/s', fileWrite, 'raw fs write + fsync', rawWrite));
  figures.push(figure(`.rsst read (${compression})`, 'MB/s', fileRead, 'raw fs read', rawRead));
}
rmSync(root, { recursive: true, force: true });

printTable(`engine benchmark (${N} keys of 13 B + 100 B values; files of ${FILE_MB} MiB)`, figures);
const file = writeResults(
  'engine',
  'npm run bench -- engine',
  { keys: N, batch: BATCH, valueBytes: VALUE.length, fileMiB: FILE_MB, runs: RUNS },
  figures,
);
console.log(`\nresults: ${file}`);

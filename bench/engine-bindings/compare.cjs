// One workload on both RocksDB bindings: rocksdb-native (maintained) and rocksdb (discontinued).
// Not part of `npm run bench`: the discontinued package is not a dependency. To reproduce:
//   npm install --no-save rocksdb@5.2.1   (allow its install script if npm asks)
//   for i in 1 2 3; do node bench/engine-bindings/compare.cjs native; node bench/engine-bindings/compare.cjs rocksdb; done
const { promisify } = require('node:util');
const fs = require('node:fs');
const N = Number(process.env.N || 200000),
  BATCH = 100,
  VALUE = Buffer.alloc(100, 7);
const key = (i) => Buffer.from(`key${String(i).padStart(10, '0')}`);
const order = Array.from({ length: N }, (_, i) => i).sort(() => Math.random() - 0.5);
const time = async (fn) => {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
};

async function nativeRun(dir) {
  const RocksDB = require('rocksdb-native');
  const db = new RocksDB(dir);
  await db.ready();
  const put = await time(async () => {
    for (let i = 0; i < N; i += BATCH) {
      const w = db.write({ capacity: BATCH });
      for (let j = i; j < i + BATCH; j++) w.tryPut(key(j), VALUE);
      await w.flush();
      w.destroy();
    }
  });
  const get = await time(async () => {
    for (let i = 0; i < N; i += BATCH) {
      const r = db.read({ capacity: BATCH });
      const ps = [];
      for (let j = i; j < i + BATCH; j++) ps.push(r.get(key(order[j])));
      r.tryFlush();
      await Promise.all(ps);
      r.destroy();
    }
  });
  const get1 = await time(async () => {
    for (let i = 0; i < N / 10; i++) await db.get(key(order[i]));
  });
  let n = 0;
  const scan = await time(async () => {
    for await (const _ of db.iterator({ gte: key(0) }, { capacity: 1024 })) n++;
  });
  await db.close();
  return { put, get, get1, scan, n };
}
async function leveldownRun(dir) {
  const rocksdb = require('rocksdb');
  const db = rocksdb(dir);
  await promisify(db.open.bind(db))();
  const batch = promisify(db.batch.bind(db)),
    getp = promisify(db.get.bind(db));
  const put = await time(async () => {
    for (let i = 0; i < N; i += BATCH) {
      const ops = [];
      for (let j = i; j < i + BATCH; j++) ops.push({ type: 'put', key: key(j), value: VALUE });
      await batch(ops);
    }
  });
  const getMany = db.getMany ? promisify(db.getMany.bind(db)) : null;
  const get = await time(async () => {
    for (let i = 0; i < N; i += BATCH) {
      const ks = [];
      for (let j = i; j < i + BATCH; j++) ks.push(key(order[j]));
      if (getMany) await getMany(ks);
      else await Promise.all(ks.map((k) => getp(k)));
    }
  });
  const get1 = await time(async () => {
    for (let i = 0; i < N / 10; i++) await getp(key(order[i]));
  });
  let n = 0;
  const scan = await time(async () => {
    const it = db.iterator({ gte: key(0) });
    const next = promisify((cb) => it.next((e, k) => cb(e, k)));
    for (;;) {
      const k = await next();
      if (k === undefined) break;
      n++;
    }
    await promisify(it.end.bind(it))();
  });
  await promisify(db.close.bind(db))();
  return { put, get, get1, scan, n };
}
(async () => {
  const which = process.argv[2];
  const dir = require('node:path').join(require('node:os').tmpdir(), `rbench-${which}-${Date.now()}`);
  const r = which === 'native' ? await nativeRun(dir) : await leveldownRun(dir);
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(
    JSON.stringify({
      binding: which,
      N,
      putsPerSec: Math.round(N / r.put),
      batchedGetsPerSec: Math.round(N / r.get),
      singleGetsPerSec: Math.round(N / 10 / r.get1),
      scanKeysPerSec: Math.round(r.n / r.scan),
      scanned: r.n,
    }),
  );
})();

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RocksEngine, WriteBatch, putVersion, mvccGet, CF_DEFAULT, mvccKey } from '@regionstore/engine';
const N = 100_000, BATCH = 1000, VALUE = Buffer.alloc(100, 7);
const key = (i) => Buffer.from(`key-${String(i).padStart(8, '0')}`);
const eng = await RocksEngine.open({ path: mkdtempSync(join(tmpdir(), 'probe-')) });
for (let i = 0; i < N; i += BATCH) {
  const b = new WriteBatch();
  for (let j = i; j < i + BATCH; j++) putVersion(b, key(j), 100n, VALUE);
  await eng.write(b);
}
const order = Array.from({ length: 20000 }, () => Math.floor(Math.random() * N));
async function t(name, fn) {
  const s = process.hrtime.bigint();
  await fn();
  const sec = Number(process.hrtime.bigint() - s) / 1e9;
  console.log(name, Math.round(order.length / sec), 'keys/s');
}
for (let r = 0; r < 2; r++) {
  await t('raw get one-by-one', async () => { for (const i of order) await eng.get(CF_DEFAULT, mvccKey(key(i), 100n)); });
  await t('mvccGet one-by-one', async () => { for (const i of order) await mvccGet(eng, key(i), 200n); });
  await t('raw getMany x128', async () => { for (let i = 0; i < order.length; i += 128) await eng.getMany(CF_DEFAULT, order.slice(i, i + 128).map((k) => mvccKey(key(k), 100n))); });
  await t('mvccGet x128 concurrent', async () => { for (let i = 0; i < order.length; i += 128) await Promise.all(order.slice(i, i + 128).map((k) => mvccGet(eng, key(k), 200n))); });
}
await eng.close();

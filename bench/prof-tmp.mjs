import 'reflect-metadata';
import { createRequire } from 'node:module';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegionStoreClient } from '@regionstore/client';
import { freePort } from './lib/cluster.mjs';
import { concurrently } from './lib/load.mjs';
const require = createRequire(import.meta.url);
const { startCluster } = require('../tools/cluster.cjs');
const batch = Number(process.argv[2] ?? 128);
const op = process.argv[3] ?? 'write';
process.env.PROF_ARGS = '--cpu-prof --cpu-prof-dir=/tmp/prof';
const cluster = await startCluster({ durability: 'unsafe', dir: mkdtempSync(join(tmpdir(), 'prof-')), redisUrl: 'redis://127.0.0.1:6379', prefix: `prof-${process.pid}`, nodes: 3, metasrvPort: await freePort(), logLevel: 'warn' });
delete process.env.PROF_ARGS;
const client = new RegionStoreClient({ metasrv: cluster.metasrvUrl });
const VALUE = Buffer.alloc(100, 7);
const key = (w, i, j) => Buffer.from([(w * 37 + i * 11 + j) % 256, ...Buffer.from(`-${w}-${i}-${j}`)]);
const t0 = Date.now();
const rate = await concurrently(op === 'write' ? Number(process.env.OPS ?? 600000) : Number(process.env.OPS ?? 300000), batch, 64, (w, i) => op === 'write'
  ? client.write(Array.from({ length: batch }, (_, j) => ({ op: 'put', key: key(w, i, j), value: VALUE })))
  : client.batchGet(Array.from({ length: batch }, (_, j) => key(w, i % 10, j))));
console.log('rate', Math.round(rate), 'in', Date.now() - t0, 'ms');
await client.close();
await cluster.stop();

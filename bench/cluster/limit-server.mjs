// The cluster benchmark's ceiling: one process doing only the work the data path cannot avoid, with
// the same libraries. Requests are the same msgpack bodies over HTTP (fastify); a write is a fenced
// Lua WAL append (our RedisLogStore, micro-batched per region within one tick) then one rocksdb-native
// write batch; a get or batch get is one rocksdb-native read batch. No MVCC, routing, leases,
// validation, metrics or region workers. Started by run.mjs as a child process:
//   node limit-server.mjs <rocksdb dir> <redis url> <key prefix> <port>
import Fastify from 'fastify';
import RocksDB from 'rocksdb-native';
import { Packr } from 'msgpackr';
import { RegionId } from '@regionstore/core';
import { createRedis } from '@regionstore/runtime';
import { RedisLogStore } from '@regionstore/log-store';

const [dir, redisUrl, prefix, port] = process.argv.slice(2);
const MSGPACK = 'application/vnd.msgpack';
const REGIONS = 8;
const FENCE = { nodeId: 'limit', epoch: 1 };
const packr = new Packr({ useRecords: false });

const db = new RocksDB(dir);
await db.ready();
const redis = createRedis(redisUrl, 'worker');
const wal = new RedisLogStore(redis, { prefix });
const regions = Array.from({ length: REGIONS }, (_, i) => new RegionId(1, i + 1));
for (const region of regions) await wal.setFence(region, FENCE);

/** Writes waiting for their region's next append: all that arrive within one tick share it. */
const pending = new Map();
let scheduled = false;
/** WAL appends and the writes they carried, for the writes-per-append figure. */
const stats = { appends: 0, entries: 0 };

function appendAll() {
  scheduled = false;
  const batches = [...pending];
  pending.clear();
  for (const [region, writes] of batches) {
    stats.appends++;
    stats.entries += writes.length;
    wal
      .append(
        region,
        writes.map((w) => w.entry),
        FENCE,
      )
      .then(
        () => {
          for (const w of writes) {
            const batch = db.write({ capacity: w.mutations.length });
            for (const m of w.mutations) {
              if (m.op === 'put') batch.tryPut(m.key, m.value);
              else batch.tryDelete(m.key);
            }
            batch.flush().then(
              () => (batch.destroy(), w.resolve()),
              (err) => (batch.destroy(), w.reject(err)),
            );
          }
        },
        (err) => writes.forEach((w) => w.reject(err)),
      );
  }
}

function write(mutations) {
  const region = regions[mutations[0].key[0] % REGIONS];
  const ts = Buffer.alloc(8);
  ts.writeBigUInt64BE(BigInt(Date.now()) << 18n);
  const entry = packr.pack([ts, mutations.map((m) => (m.op === 'put' ? [0, m.key, m.value] : [1, m.key]))]);
  return new Promise((resolve, reject) => {
    const list = pending.get(region) ?? [];
    list.push({ entry, mutations, resolve, reject });
    pending.set(region, list);
    if (!scheduled) {
      scheduled = true;
      setImmediate(appendAll);
    }
  });
}

async function read(keys) {
  const batch = db.read({ capacity: keys.length });
  try {
    const values = keys.map((key) => batch.get(key));
    batch.tryFlush();
    return await Promise.all(values);
  } finally {
    batch.destroy();
  }
}

const app = Fastify({ bodyLimit: 64 * 1024 * 1024 });
app.addContentTypeParser(MSGPACK, { parseAs: 'buffer' }, (_request, body, done) => {
  try {
    done(null, packr.unpack(body));
  } catch (err) {
    done(err);
  }
});
const send = (reply, body) => reply.header('content-type', MSGPACK).send(packr.pack(body));
app.post('/v1/write', async (request, reply) => {
  await write(request.body.mutations);
  return send(reply, { commitTs: '1', entryId: 1 });
});
app.post('/v1/get', async (request, reply) => {
  const [value] = await read([request.body.key]);
  return send(reply, { value });
});
app.get('/stats', async () => {
  const cpu = process.cpuUsage();
  return { ...stats, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
});
app.post('/v1/batch-get', async (request, reply) => {
  return send(reply, { values: await read(request.body.keys) });
});

const shutdown = async () => {
  await app.close();
  redis.disconnect();
  await db.close();
  process.exit(0);
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
await app.listen({ port: Number(port), host: '127.0.0.1' });
process.send?.('ready');

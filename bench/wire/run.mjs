// Is a binary content type for the data API worth it? Measures the codec work of our JSON + base64
// wire format (zod encode/decode + JSON) against msgpack with raw bytes, for the request and response
// of a 16-put write and a 128-key batch get (100-byte values), and sets both against the cost of an
// empty HTTP round trip on this machine (fastify + fetch, 16 in flight), the part no codec removes.
// `npm run bench -- wire`
import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import { Packr } from 'msgpackr';
import { z } from 'zod';
import {
  batchGetRequestSchema,
  batchGetResponseSchema,
  writeRequestSchema,
  writeResponseSchema,
} from '@regionstore/protocol';
import { RegionId } from '@regionstore/core';
import { figure, median, printTable, timed, writeResults } from '../lib/report.mjs';

const ROUNDS = Number(process.env.BENCH_WIRE_ROUNDS ?? 20_000);
const packr = new Packr({ useRecords: false, useBigInt64: true });
const value = () => randomBytes(100);
const key = (i) => Buffer.from(`user/${String(i).padStart(8, '0')}`);
const regionId = new RegionId(1, 3);

const shapes = {
  'write of 16 puts': {
    request: {
      schema: writeRequestSchema,
      value: {
        regionId,
        mutations: Array.from({ length: 16 }, (_, i) => ({ op: 'put', key: key(i), value: value() })),
      },
    },
    response: { schema: writeResponseSchema, value: { commitTs: 443115212456345600n, entryId: 1234 } },
  },
  'batch get of 128 keys': {
    request: {
      schema: batchGetRequestSchema,
      value: { regionId, keys: Array.from({ length: 128 }, (_, i) => key(i)) },
    },
    response: { schema: batchGetResponseSchema, value: { values: Array.from({ length: 128 }, value) } },
  },
};

/** One request and its response through the JSON wire format: encode, stringify, parse, decode. */
function jsonRoundTrip({ request, response }) {
  z.decode(request.schema, JSON.parse(JSON.stringify(z.encode(request.schema, request.value))));
  z.decode(response.schema, JSON.parse(JSON.stringify(z.encode(response.schema, response.value))));
}

/** The same through msgpack with bytes as bytes (what a binary content type would do). */
function msgpackRoundTrip({ request, response }) {
  packr.unpack(packr.pack({ ...request.value, regionId: request.value.regionId.toString() }));
  packr.unpack(packr.pack(response.value));
}

/** Round trips per second of `fn`. */
async function rate(fn) {
  return median(
    3,
    async () =>
      ROUNDS /
      (await timed(async () => {
        for (let i = 0; i < ROUNDS; i++) fn();
      })),
  );
}

async function httpRoundTrips() {
  const app = Fastify();
  app.post('/v1/noop', async () => ({}));
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  const total = 5000;
  let next = 0;
  const seconds = await timed(() =>
    Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next++ < total) {
          const res = await fetch(`${address}/v1/noop`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: '{}',
          });
          await res.json();
        }
      }),
    ),
  );
  await app.close();
  return total / seconds;
}

const figures = [];
const http = await httpRoundTrips();
for (const [name, shape] of Object.entries(shapes)) {
  const json = await rate(() => jsonRoundTrip(shape));
  const msgpack = await rate(() => msgpackRoundTrip(shape));
  figures.push(
    figure(`${name}: msgpack codec`, 'round trips/s', msgpack, 'JSON + base64 codec (ours)', json),
  );
  // How much of a request the codec is: an empty HTTP round trip against one with our codec added.
  const withCodec = 1 / (1 / http + 1 / json);
  figures.push(
    figure(
      `${name}: empty HTTP round trip + our codec`,
      'requests/s',
      withCodec,
      'empty HTTP round trip',
      http,
    ),
  );
}
printTable('wire: codec work per request and response, against an empty HTTP round trip', figures);
console.log(
  `\nresults: ${writeResults('wire', 'npm run bench -- wire', { rounds: ROUNDS, valueSize: 100 }, figures)}`,
);

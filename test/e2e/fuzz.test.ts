import { RegionStoreClient } from '@regionstore/client';
import { createRedis } from '@regionstore/runtime';
import { JOBS, QueueNames } from '@regionstore/protocol';
import { testRedisUrl } from '@regionstore/testing';
import { Queue, QueueEvents } from 'bullmq';
import fc from 'fast-check';
import { useCluster } from './cluster';

const clusters = useCluster('e2e-fuzz');

type Route = [method: string, path: string];
const NODE_ROUTES: Route[] = [
  ['POST', '/v1/write'],
  ['POST', '/v1/get'],
  ['POST', '/v1/batch-get'],
  ['POST', '/v1/scan'],
  ['GET', '/health'],
  ['GET', '/ready'],
  ['GET', '/metrics'],
];
const METASRV_ROUTES: Route[] = [
  ['GET', '/v1/routes'],
  ['GET', '/admin/status'],
  ['GET', '/admin/route'],
  ['POST', '/admin/maintenance'],
  ['POST', '/admin/migrate'],
  ['GET', '/admin/procedures/x'],
  ['POST', '/admin/backup'],
  ['GET', '/admin/backups'],
  ['POST', '/admin/restore'],
  ['GET', '/admin/restores/y'],
  ['GET', '/admin/queues/api/queues'],
];

/** A request a careless or hostile client might send: mostly a real route, sometimes bent, with a body that is off. */
const request = (routes: Route[]) =>
  fc
    .record({
      route: fc.constantFrom(...routes),
      method: fc.oneof(
        { arbitrary: fc.constant(undefined), weight: 5 }, // the route's own
        { arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'), weight: 1 },
      ),
      suffix: fc.oneof(
        { arbitrary: fc.constant(''), weight: 6 },
        { arbitrary: fc.string({ maxLength: 20 }).map((t) => encodeURI(t)), weight: 1 },
        { arbitrary: fc.webQueryParameters().map((q) => `?${q}`), weight: 2 },
      ),
      contentType: fc.constantFrom('application/json', 'application/msgpack', 'text/plain', undefined),
      body: fc.oneof(
        fc.json().map((j) => Buffer.from(j)),
        fc
          .jsonValue()
          .map((v) =>
            Buffer.from(
              JSON.stringify({ regionId: v, mutations: v, keys: v, storage: v, enabled: v, to: v }),
            ),
          ),
        fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)),
        fc.constant(undefined),
      ),
    })
    .map(({ route, method, suffix, contentType, body }) => ({
      method: method ?? route[0],
      path: `${route[1]}${suffix}`,
      contentType,
      body,
    }));

interface FuzzRequest {
  method: string;
  path: string;
  contentType: string | undefined;
  body: Buffer | undefined;
}

async function send(base: string, r: FuzzRequest) {
  const response = await fetch(`${base}${r.path}`, {
    method: r.method,
    headers: r.contentType ? { 'content-type': r.contentType } : {},
    ...(r.body !== undefined && r.method !== 'GET' ? { body: r.body } : {}),
  });
  await response.arrayBuffer();
  return response.status;
}

describe('fuzzing the running apps', () => {
  it('answers 2,000 malformed requests and 200 malformed jobs without a 5xx, a crash, a hung job or Redis growth', async () => {
    const cluster = await clusters.start({ nodes: 1, initialRegions: 2 });
    const [route] = await cluster.routes();
    const node = route!.address;
    const redis = createRedis(testRedisUrl(), 'worker');
    const keyBytes = async () => {
      let total = 0;
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `*${cluster.prefix}*`, 'COUNT', 500);
        cursor = next;
        for (const key of keys) total += Number((await redis.memory('USAGE', key)) ?? 0);
      } while (cursor !== '0');
      return total;
    };
    const before = await keyBytes();

    const statuses = new Map<string, number>();
    const serverErrors: string[] = [];
    for (const [base, routes] of [
      [node, NODE_ROUTES],
      [cluster.metasrvUrl, METASRV_ROUTES],
    ] as const) {
      await fc.assert(
        fc.asyncProperty(request(routes), async (r) => {
          const status = await send(base, r);
          statuses.set(String(status), (statuses.get(String(status)) ?? 0) + 1);
          if (status >= 500) serverErrors.push(`${status} ${r.method} ${r.path}`);
          return true;
        }),
        { numRuns: 1000, seed: 20261130 },
      );
    }
    expect(serverErrors).toEqual([]);

    // Jobs: random names and data on the node's queue and the metasrv's, each must end (fail) soon.
    const names = new QueueNames(cluster.prefix);
    const queues = [names.node(route!.leader), names.metasrv];
    const connections = [redis.duplicate(), redis.duplicate()];
    const hung: string[] = [];
    try {
      for (const queueName of queues) {
        const queue = new Queue(queueName, { connection: connections[0]!, prefix: names.bullmqPrefix });
        const events = new QueueEvents(queueName, {
          connection: connections[1]!,
          prefix: names.bullmqPrefix,
        });
        await events.waitUntilReady();
        const jobs = fc.sample(
          fc.record({
            name: fc.oneof(fc.constantFrom(...Object.keys(JOBS)), fc.string({ maxLength: 12 })),
            data: fc.oneof(fc.jsonValue(), fc.dictionary(fc.string(), fc.jsonValue())),
            raw: fc.option(fc.string({ maxLength: 40 }), { freq: 4 }),
          }),
          { numRuns: 100, seed: 42 },
        );
        const added = [];
        for (const job of jobs) {
          const keep = { age: 300 };
          const bullJob = await queue.add(job.name, job.data, {
            removeOnComplete: keep,
            removeOnFail: keep,
            ...(job.raw === null ? {} : { delay: 60_000 }),
          });
          if (job.raw !== null) {
            // Data that is not JSON at all, as a broken producer could leave it.
            await redis.hset(`${names.bullmqPrefix}:${queueName}:${bullJob.id}`, 'data', `{${job.raw}`);
            await bullJob.promote();
          }
          added.push(bullJob);
        }
        for (const job of added) {
          const ended = await job.waitUntilFinished(events, 15_000).then(
            () => true,
            (err: Error) => !/timed out|timeout/i.test(err.message),
          );
          if (!ended) hung.push(`${queueName}/${job.name}#${job.id}`);
        }
        await events.close();
        await queue.close();
      }
    } finally {
      for (const c of connections) c.disconnect();
    }
    expect(hung).toEqual([]);

    for (const name of ['metasrv-1', 'node-1']) expect(cluster.processes.get(name)!.exitCode).toBeNull();
    const client = new RegionStoreClient({ metasrv: cluster.metasrvUrl });
    await client.put(Buffer.from('after-fuzz'), Buffer.from('ok'));
    expect((await client.get(Buffer.from('after-fuzz')))?.toString()).toBe('ok');
    expect((await keyBytes()) - before).toBeLessThan(5 * 1024 * 1024);
    redis.disconnect();
    console.log(`fuzz: statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
    await cluster.stop();
  });
});

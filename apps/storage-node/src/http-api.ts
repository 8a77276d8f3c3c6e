import { WorkerStoppedError, toRegionStoreError } from '@regionstore/core';
import { histogram, type Logger, type Registry } from '@regionstore/runtime';
import {
  batchGetRequestSchema,
  batchGetResponseSchema,
  batchRequestSchema,
  batchResponseSchema,
  getRequestSchema,
  getResponseSchema,
  scanRequestSchema,
  scanResponseSchema,
  writeRequestSchema,
  writeResponseSchema,
  type DataCommand,
} from '@regionstore/protocol';
import { z } from 'zod';
import type { WorkerGroup } from '@regionstore/worker-group';
import Fastify, { type FastifyInstance } from 'fastify';
import {
  acceptMsgpack,
  installErrorHandler,
  installRequestLogging,
  parseBody,
  requestIdOptions,
  requireBearerToken,
  respond,
  wantsMsgpack,
} from '@regionstore/http';
import type { DurabilityReport } from '@regionstore/log-store';
import type { LoadSplitDetector } from './load-split-detector';
import type { RegionReader } from './reads';

export interface DataApiDeps {
  group: () => WorkerGroup;
  reader: RegionReader;
  metrics: Registry;
  isReady: () => boolean;
  /** Whether the server is closing: `/v1/*` requests are then refused unrun (see `refuseWhileClosing`). */
  isClosing?: () => boolean;
  /** What an acknowledged write promises here (shown by /ready). */
  durability?: DurabilityReport;
  bodyLimitBytes: number;
  /** Required on `/v1/*` when set. */
  apiToken?: string | undefined;
  /** Access log (debug) and 5xx errors. */
  logger?: Logger;
  /** Counts each leader command against its region for load-based split (see LoadSplitDetector). */
  load?: LoadSplitDetector;
}

type ScanRequestBody = z.output<typeof scanRequestSchema>;

/** A command's answer and the schema it travels by. */
type Answer = { schema: z.ZodType; value: unknown };

const encodeAnswer = ({ schema, value }: Answer): unknown => z.encode(schema, value);

/** One of `items`, at random: a batch's share of the sampled keys stays uniform over its keys. */
const anyOf = <T>(items: readonly T[]): T | undefined => items[Math.floor(Math.random() * items.length)];

/** Counts a command that needs the region's leader against the region (replica reads do not). */
function recordLoad(load: LoadSplitDetector, command: DataCommand): void {
  switch (command.type) {
    case 'write': {
      const mutation = anyOf(command.mutations);
      if (!mutation) return;
      let bytes = 0;
      for (const m of command.mutations) bytes += m.key.length + (m.op === 'put' ? m.value.length : 0);
      return load.record(command.regionId, mutation.key, bytes);
    }
    case 'get':
      if (!command.replicaRead) load.record(command.regionId, command.key, command.key.length);
      return;
    case 'batch-get': {
      const key = anyOf(command.keys);
      if (command.replicaRead || !key) return;
      let bytes = 0;
      for (const k of command.keys) bytes += k.length;
      return load.record(command.regionId, key, bytes);
    }
  }
}

/**
 * A write, get or batch get, whether it came alone or in a batch; one that succeeded counts against
 * its region's load (a refused one, sent on an old route, says nothing of where load goes).
 */
async function runCommand(deps: DataApiDeps, command: DataCommand): Promise<Answer> {
  const answer = await answerCommand(deps, command);
  if (deps.load) recordLoad(deps.load, command);
  return answer;
}

async function answerCommand(deps: DataApiDeps, command: DataCommand): Promise<Answer> {
  switch (command.type) {
    case 'write': {
      const result = await deps.group().write({
        regionId: command.regionId,
        mutations: command.mutations,
        ...(command.epoch ? { epoch: command.epoch } : {}),
        ...(command.writeId === undefined ? {} : { writeId: command.writeId }),
        ...(command.firstSentMs === undefined ? {} : { firstSentMs: command.firstSentMs }),
        ...(command.retry ? { retry: true } : {}),
      });
      return { schema: writeResponseSchema, value: result };
    }
    case 'get': {
      if (command.replicaRead) {
        const read = await deps.reader.replicaGet(command.regionId, command.key, command.ts);
        return { schema: getResponseSchema, value: { value: read.value ?? null, readTs: read.readTs } };
      }
      const value = await deps.reader.get(command.regionId, command.key, command.ts);
      return { schema: getResponseSchema, value: { value: value ?? null } };
    }
    case 'batch-get': {
      if (command.replicaRead) {
        const read = await deps.reader.replicaBatchGet(command.regionId, command.keys, command.ts);
        const values = read.value.map((v) => v ?? null);
        return { schema: batchGetResponseSchema, value: { values, readTs: read.readTs } };
      }
      const values = await deps.reader.batchGet(command.regionId, command.keys, command.ts);
      return { schema: batchGetResponseSchema, value: { values: values.map((v) => v ?? null) } };
    }
  }
}

/** A scan: by the leader's lease, or (a replica read) by any copy at a ts it has applied. */
async function runScan(
  deps: DataApiDeps,
  body: ScanRequestBody,
): Promise<z.output<typeof scanResponseSchema>> {
  const options = {
    start: body.start,
    end: body.end,
    limit: body.limit,
    reverse: body.reverse,
    ...(body.ts === undefined ? {} : { ts: body.ts }),
  };
  if (!body.replicaRead) return await deps.reader.scan(body.regionId, options);
  const read = await deps.reader.replicaScan(body.regionId, options);
  return { ...read.value, readTs: read.readTs };
}

/**
 * While the server closes, requests still arrive on open keep-alive connections. They are refused
 * before anything runs, in our error shape, so the client knows they did not run and sends a write
 * again as a first attempt; fastify's own 503 body could come from a proxy that did forward it.
 */
function refuseWhileClosing(app: FastifyInstance, nodeClosing: () => boolean): void {
  app.addHook('onRequest', async (request) => {
    if (nodeClosing() && request.url.startsWith('/v1/'))
      throw new WorkerStoppedError('the node is shutting down: the request was not run');
  });
}

/**
 * The data plane: write, get, batch get, scan (JSON with base64 bytes, or msgpack with raw bytes),
 * behind `apiToken` when one is set; plus health, readiness and metrics.
 */
export function buildDataApi(deps: DataApiDeps): FastifyInstance {
  const app = Fastify({
    bodyLimit: deps.bodyLimitBytes,
    ...requestIdOptions,
    return503OnClosing: false,
  });
  if (deps.logger) installRequestLogging(app, deps.logger);
  refuseWhileClosing(app, () => deps.isClosing?.() ?? false);
  const requests = histogram<'operation' | 'outcome'>(deps.metrics, {
    component: 'storage_node',
    what: 'request_duration',
    unit: 'seconds',
    help: 'Data API commands (alone or in a batch) by operation and outcome (ok, or the error code)',
    labelNames: ['operation', 'outcome'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
  });
  /** Runs a command (or a scan), timing it by operation and outcome. */
  const timed = async <T>(operation: string, run: () => Promise<T>): Promise<T> => {
    const stop = requests.startTimer({ operation });
    try {
      const result = await run();
      stop({ outcome: 'ok' });
      return result;
    } catch (err) {
      stop({ outcome: toRegionStoreError(err).code });
      throw err;
    }
  };
  const serve = (command: DataCommand) => timed(command.type, () => runCommand(deps, command));
  installErrorHandler(app);
  acceptMsgpack(app);
  requireBearerToken(app, deps.apiToken, ['/health', '/ready', '/metrics'], 'the data API (apiToken)');

  app.post('/v1/write', async (request, reply) => {
    const { schema, value } = await serve({
      ...parseBody(writeRequestSchema, request.body),
      type: 'write',
    });
    return respond(request, reply, schema, value);
  });

  app.post('/v1/get', async (request, reply) => {
    const { schema, value } = await serve({
      ...parseBody(getRequestSchema, request.body),
      type: 'get',
    });
    return respond(request, reply, schema, value);
  });

  app.post('/v1/batch-get', async (request, reply) => {
    const { schema, value } = await serve({
      ...parseBody(batchGetRequestSchema, request.body),
      type: 'batch-get',
    });
    return respond(request, reply, schema, value);
  });

  app.post('/v1/batch', async (request, reply) => {
    const { commands } = parseBody(batchRequestSchema, request.body);
    // msgpack carries the values as they are; JSON needs each encoded by its own schema.
    const encode = wantsMsgpack(request) ? (answer: Answer) => answer.value : encodeAnswer;
    const results = await Promise.all(
      commands.map((command) =>
        serve(command).then(
          (answer) => ({ ok: encode(answer) }),
          (err: unknown) => ({ error: toRegionStoreError(err).toJSON() }),
        ),
      ),
    );
    return respond(request, reply, batchResponseSchema, { results });
  });

  app.post('/v1/scan', async (request, reply) => {
    const body = parseBody(scanRequestSchema, request.body);
    const answer = await timed('scan', () => runScan(deps, body));
    return respond(request, reply, scanResponseSchema, answer);
  });

  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async (_request, reply) => {
    if (!deps.isReady()) return reply.status(503).send({ status: 'starting' });
    return {
      status: 'ready',
      regions: deps.group().regions().length,
      ...(deps.durability ? { wal: deps.durability } : {}),
    };
  });
  app.get('/metrics', async (_request, reply) => {
    void reply.header('content-type', deps.metrics.contentType);
    return deps.metrics.metrics();
  });
  return app;
}

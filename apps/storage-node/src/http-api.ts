import type { Registry } from '@regionstore/core';
import {
  batchGetRequestSchema,
  batchGetResponseSchema,
  getRequestSchema,
  getResponseSchema,
  scanRequestSchema,
  scanResponseSchema,
  writeRequestSchema,
  writeResponseSchema,
} from '@regionstore/protocol';
import type { WorkerGroup } from '@regionstore/worker-group';
import Fastify, { type FastifyInstance } from 'fastify';
import {
  acceptMsgpack,
  installErrorHandler,
  parseBody,
  requireBearerToken,
  respond,
} from '@regionstore/http';
import type { DurabilityReport } from '@regionstore/log-store';
import type { RegionReader } from './reads';

export interface DataApiDeps {
  group: () => WorkerGroup;
  reader: RegionReader;
  metrics: Registry;
  isReady: () => boolean;
  /** What an acknowledged write promises here (shown by /ready). */
  durability?: DurabilityReport;
  bodyLimitBytes: number;
  /** Required on `/v1/*` when set. */
  apiToken?: string | undefined;
}

/**
 * The data plane: write, get, batch get, scan (JSON with base64 bytes, or msgpack with raw bytes),
 * behind `apiToken` when one is set; plus health, readiness and metrics.
 */
export function buildDataApi(deps: DataApiDeps): FastifyInstance {
  const app = Fastify({ bodyLimit: deps.bodyLimitBytes });
  installErrorHandler(app);
  acceptMsgpack(app);
  requireBearerToken(app, deps.apiToken, ['/health', '/ready', '/metrics'], 'the data API (apiToken)');

  app.post('/v1/write', async (request, reply) => {
    const body = parseBody(writeRequestSchema, request.body);
    const result = await deps.group().write({
      regionId: body.regionId,
      mutations: body.mutations,
      ...(body.epoch ? { epoch: body.epoch } : {}),
    });
    return respond(request, reply, writeResponseSchema, result);
  });

  app.post('/v1/get', async (request, reply) => {
    const body = parseBody(getRequestSchema, request.body);
    const value = await deps.reader.get(body.regionId, body.key, body.ts);
    return respond(request, reply, getResponseSchema, { value: value ?? null });
  });

  app.post('/v1/batch-get', async (request, reply) => {
    const body = parseBody(batchGetRequestSchema, request.body);
    const values = await deps.reader.batchGet(body.regionId, body.keys, body.ts);
    return respond(request, reply, batchGetResponseSchema, { values: values.map((v) => v ?? null) });
  });

  app.post('/v1/scan', async (request, reply) => {
    const body = parseBody(scanRequestSchema, request.body);
    const entries = await deps.reader.scan(body.regionId, {
      start: body.start,
      end: body.end,
      limit: body.limit,
      reverse: body.reverse,
      ...(body.ts === undefined ? {} : { ts: body.ts }),
    });
    return respond(request, reply, scanResponseSchema, { entries });
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

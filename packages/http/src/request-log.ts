import { randomUUID } from 'node:crypto';
import type { Logger } from '@regionstore/runtime';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';

/** The header a request id travels in, both ways: a caller's own id is kept, else one is made. */
export const REQUEST_ID_HEADER = 'x-request-id';
const VALID_ID = /^[\w.:-]{1,128}$/;

/** Fastify options for request ids: the caller's `x-request-id` if it is sane, else a fresh UUID. */
export const requestIdOptions: Pick<FastifyServerOptions, 'genReqId' | 'requestIdHeader'> = {
  requestIdHeader: false,
  genReqId: (request) => {
    const given = request.headers[REQUEST_ID_HEADER];
    return typeof given === 'string' && VALID_ID.test(given) ? given : randomUUID();
  },
};

/**
 * Every request gets an id (answered in `x-request-id`) and one access-log line at debug level:
 * method, path, status, duration. A reply with a 5xx status is logged at error level with the error
 * that caused it, so a server-side failure is never only in the client's hands.
 */
export function installRequestLogging(app: FastifyInstance, logger: Logger): void {
  const errors = new WeakMap<object, Error>();
  app.addHook('onRequest', async (request, reply) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
  });
  app.addHook('onError', async (request, _reply, error) => {
    errors.set(request, error);
  });
  app.addHook('onResponse', async (request, reply) => {
    const line = {
      reqId: request.id,
      method: request.method,
      path: request.routeOptions.url ?? request.url.split('?')[0],
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 100) / 100,
    };
    if (reply.statusCode >= 500) logger.error({ ...line, err: errors.get(request) }, 'request failed');
    else logger.debug(line, 'request');
  });
}

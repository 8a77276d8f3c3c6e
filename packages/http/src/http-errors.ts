import { InvalidArgumentError, RegionStoreError, toRegionStoreError } from '@regionstore/core';
import type { FastifyError, FastifyInstance } from 'fastify';
import { z } from 'zod';

/** Parses a request body with a zod schema; failures become InvalidArgument naming each bad field. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(body)'}: ${i.message}`);
  throw new InvalidArgumentError(`invalid request: ${issues.join('; ')}`, { issues });
}

/** Every error leaves as `{code, message, details}` with the code's HTTP status; nothing crashes. */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | Error, _request, reply) => {
    let err: RegionStoreError;
    const fastifyError = error as FastifyError;
    if (error instanceof RegionStoreError) err = error;
    else if (fastifyError.statusCode && fastifyError.statusCode < 500) {
      // Malformed JSON, a body over the limit, a wrong content type: the client's fault.
      err = new InvalidArgumentError(error.message, { fastifyCode: fastifyError.code });
    } else err = toRegionStoreError(error);
    const status = fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 413 : err.httpStatus;
    void reply.status(status).send(err.toJSON());
  });
  app.setNotFoundHandler((request, reply) => {
    void reply
      .status(404)
      .send({ code: 'NotFound', message: `no route ${request.method} ${request.url}`, details: {} });
  });
}

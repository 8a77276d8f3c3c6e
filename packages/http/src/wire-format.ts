import { MSGPACK_CONTENT_TYPE, packWire, unpackWire } from '@regionstore/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { InvalidArgumentError } from '@regionstore/core';

/** Accepts msgpack request bodies (next to JSON); a body that is not msgpack is InvalidArgument. */
export function acceptMsgpack(app: FastifyInstance): void {
  app.addContentTypeParser(MSGPACK_CONTENT_TYPE, { parseAs: 'buffer' }, (_request, body, done) => {
    try {
      done(null, unpackWire(body as Buffer));
    } catch (err) {
      done(new InvalidArgumentError(`body is not msgpack: ${(err as Error).message}`), undefined);
    }
  });
}

/** True when the client sent or accepts msgpack. */
export function wantsMsgpack(request: FastifyRequest): boolean {
  return (
    (request.headers['content-type'] ?? '').startsWith(MSGPACK_CONTENT_TYPE) ||
    (request.headers.accept ?? '').includes(MSGPACK_CONTENT_TYPE)
  );
}

/**
 * Answers in the request's format: msgpack (raw bytes) when the client sent or accepts msgpack,
 * JSON (the schema's wire encoding, base64 bytes) otherwise. Errors are always JSON.
 */
export function respond<S extends z.ZodType>(
  request: FastifyRequest,
  reply: FastifyReply,
  schema: S,
  value: z.output<S>,
): unknown {
  if (!wantsMsgpack(request)) return z.encode(schema, value);
  return reply.type(MSGPACK_CONTENT_TYPE).send(packWire(value));
}

import { timingSafeEqual } from 'node:crypto';
import { InvalidConfigError, UnauthorizedError } from '@regionstore/core';
import type { FastifyInstance } from 'fastify';

/** Whether an API bound to `host` is reachable from this machine only. */
export function isLoopbackHost(host: string): boolean {
  return ['127.0.0.1', '::1', 'localhost'].includes(host);
}

/**
 * Refuses an API without a token on an address other machines reach. `setting` names the config key
 * (and its variable), `what` the API it protects.
 */
export function checkExposure(host: string, token: string | undefined, setting: string, what: string): void {
  if (!isLoopbackHost(host) && !token) {
    throw new InvalidConfigError(
      `http.host ${host} is not a loopback address: set ${setting} to protect ${what}`,
      { host },
    );
  }
}

/**
 * Answers `Unauthorized` to the requests `guarded` selects unless they carry
 * `Authorization: Bearer <token>`. Without a token nothing is checked (loopback-only development).
 */
export function requireBearerToken(
  app: FastifyInstance,
  token: string | undefined,
  guarded: (url: string) => boolean,
  what: string,
): void {
  if (!token) return;
  const expected = Buffer.from(`Bearer ${token}`);
  app.addHook('onRequest', async (request) => {
    if (!guarded(request.url)) return;
    const given = Buffer.from(request.headers.authorization ?? '');
    // Constant time, so response timing does not reveal how much of a guess was right.
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new UnauthorizedError(`${what} needs "Authorization: Bearer <token>"`);
    }
  });
}

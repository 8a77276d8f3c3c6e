import { timingSafeEqual } from 'node:crypto';
import { InvalidConfigError, UnauthorizedError, httpStatusFor } from '@regionstore/core';
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
 * Answers `Unauthorized` (401 with `WWW-Authenticate: Bearer`) to every request without
 * `Authorization: Bearer <token>`, except those whose route is in `publicRoutes`. Without a token
 * nothing is checked (loopback-only development).
 *
 * Decided on the route the router matched (its pattern, e.g. `/admin/procedures/:id`), never on the
 * raw URL, which the router decodes and may read differently: `/%61dmin/status`, an absolute-form
 * `http://host/admin/status` or `/admin/status/` reach the same handler as `/admin/status` and are
 * guarded like it. A request that matches no route is guarded too, so it learns nothing.
 */
export function requireBearerToken(
  app: FastifyInstance,
  token: string | undefined,
  publicRoutes: readonly string[],
  what: string,
): void {
  if (!token) return;
  const expected = Buffer.from(`Bearer ${token}`);
  app.addHook('onRequest', async (request, reply) => {
    const route = request.routeOptions.url;
    if (route !== undefined && publicRoutes.includes(route)) return;
    const given = Buffer.from(request.headers.authorization ?? '');
    // Constant time, so response timing does not reveal how much of a guess was right.
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      // Answered here, not thrown: a plugin's own error handler (Bull Board's) would turn it into a 500.
      const refused = new UnauthorizedError(`${what} needs "Authorization: Bearer <token>"`);
      return reply
        .code(httpStatusFor(refused.code))
        .header('www-authenticate', 'Bearer realm="regionstore"')
        .send(refused.toJSON());
    }
  });
}

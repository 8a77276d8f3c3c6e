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

/** Where a browser may log in with HTTP Basic auth instead of a bearer token. */
export interface BrowserLogin {
  /** Matched routes starting with one of these (Bull Board's pages and its API) accept Basic auth. */
  routePrefixes: readonly string[];
}

const constantTimeEqual = (given: string, expected: Buffer) => {
  const bytes = Buffer.from(given);
  // Constant time, so response timing does not reveal how much of a guess was right.
  return bytes.length === expected.length && timingSafeEqual(bytes, expected);
};

/** The password of `Authorization: Basic base64(user:password)`; any user name is accepted. */
function basicPassword(header: string): string | undefined {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header);
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : decoded.slice(colon + 1);
}

/**
 * Answers `Unauthorized` (401 with `WWW-Authenticate: Bearer`) to every request without
 * `Authorization: Bearer <token>`, except those whose route is in `publicRoutes`. Without a token
 * nothing is checked (loopback-only development). Routes under `browser.routePrefixes` also take
 * `Authorization: Basic` with the token as password (any user name), and challenge with `Basic`, so
 * a browser asks for it: a person can open Bull Board.
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
  browser?: BrowserLogin,
): void {
  if (!token) return;
  const bearer = Buffer.from(`Bearer ${token}`);
  const password = Buffer.from(token);
  app.addHook('onRequest', async (request, reply) => {
    const route = request.routeOptions.url;
    if (route !== undefined && publicRoutes.includes(route)) return;
    const header = request.headers.authorization ?? '';
    const forBrowser =
      route !== undefined && (browser?.routePrefixes ?? []).some((prefix) => route.startsWith(prefix));
    if (constantTimeEqual(header, bearer)) return;
    const basic = forBrowser ? basicPassword(header) : undefined;
    if (basic !== undefined && constantTimeEqual(basic, password)) return;
    // Answered here, not thrown: a plugin's own error handler (Bull Board's) would turn it into a 500.
    const refused = new UnauthorizedError(
      forBrowser
        ? `${what} needs the token: log in with any user name and the token as password, or send "Authorization: Bearer <token>"`
        : `${what} needs "Authorization: Bearer <token>"`,
    );
    return reply
      .code(httpStatusFor(refused.code))
      .header(
        'www-authenticate',
        forBrowser ? 'Basic realm="regionstore", charset="UTF-8"' : 'Bearer realm="regionstore"',
      )
      .send(refused.toJSON());
  });
}

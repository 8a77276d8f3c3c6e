import type { FastifyInstance } from 'fastify';

/** What a plugin's admin routes get: the API to add them to, and the guard for leader-only work. */
export interface AdminRouteContext {
  app: FastifyInstance;
  /** Throws NotLeaderError (naming the leader) on a standby. */
  requireLeader(): Promise<void>;
}

/**
 * Routes a plugin adds to the metasrv's admin API. They sit behind the admin token like every
 * `/admin/*` route; under `browserPrefix` a browser may log in with Basic auth (the token as password).
 */
export interface AdminRoutes {
  readonly name: string;
  readonly browserPrefix?: string;
  install(context: AdminRouteContext): void | Promise<void>;
}

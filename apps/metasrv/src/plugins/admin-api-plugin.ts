import 'reflect-metadata';
import { TOKENS, resolveOptional, type Logger, type Plugin, type Registry } from '@regionstore/runtime';
import type { SupervisorService } from '@regionstore/supervisor';
import { SUPERVISOR } from '@regionstore/supervisor';
import type { FastifyInstance } from 'fastify';
import { buildAdminApi, type AdminApiDeps } from '../admin-api';
import type { AdminRoutes } from '../admin-routes';
import type { ClusterStore } from '../cluster-store';
import type { Leadership } from '../leadership';
import { METASRV, type MetasrvPluginConfig } from './tokens';

/** The admin API's HTTP server, listening from the plugin's start to its stop. */
export class AdminApiServer {
  private app: FastifyInstance | undefined;

  constructor(
    private readonly http: { host: string; port: number },
    private readonly adminToken: string | undefined,
  ) {}

  /** Where it listens (the bound port when the config asked for port 0). */
  get address(): string {
    const bound = this.app?.server.address();
    const port = typeof bound === 'object' && bound ? bound.port : this.http.port;
    return `http://${this.http.host}:${port}`;
  }

  async listen(deps: Omit<AdminApiDeps, 'adminToken'>): Promise<void> {
    this.app = await buildAdminApi({ ...deps, adminToken: this.adminToken });
    await this.app.listen(this.http);
  }

  async close(): Promise<void> {
    await this.app?.close();
  }
}

/**
 * The metasrv's HTTP API (routes for clients, `/admin/*`, `/health`, `/ready`, `/metrics`) with the
 * routes other plugins bound under METASRV.AdminRoutes. Needs the cluster metadata, supervisor and
 * leadership plugins; starts listening once they are all registered.
 */
export const adminApiPlugin: Plugin<MetasrvPluginConfig> = {
  name: 'admin-api',
  register(container, config) {
    container.registerInstance(METASRV.AdminApi, new AdminApiServer(config.http, config.adminToken));
  },
  async start(container) {
    const supervisor = container.resolve<SupervisorService>(SUPERVISOR);
    const leadership = container.resolve<Leadership>(METASRV.Leadership);
    const logger = resolveOptional<Logger>(container, TOKENS.Logger);
    await container.resolve<AdminApiServer>(METASRV.AdminApi).listen({
      store: container.resolve<ClusterStore>(METASRV.ClusterStore),
      supervisor,
      metrics: container.resolve<Registry>(TOKENS.Metrics),
      isLeader: () => leadership.isLeader,
      leaderId: () => leadership.leaderId(),
      phiByNode: () => supervisor.control.phiByNode(Date.now()),
      routes: container.isRegistered(METASRV.AdminRoutes, true)
        ? container.resolveAll<AdminRoutes>(METASRV.AdminRoutes)
        : [],
      ...(logger ? { logger: logger.child({ component: 'http' }) } : {}),
    });
  },
  async stop(container) {
    await container.resolve<AdminApiServer>(METASRV.AdminApi).close();
  },
};

import { InvalidArgumentError, NotFoundError, NotLeaderError } from '@regionstore/core';
import { type Logger, type Registry } from '@regionstore/runtime';
import { bytesCodec, nodeIdSchema, regionIdCodec, routesResponseSchema } from '@regionstore/protocol';
import { encodeProcedureState, type SupervisorService } from '@regionstore/supervisor';
import Fastify, { type FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  installErrorHandler,
  installRequestLogging,
  parseBody,
  requestIdOptions,
  requireBearerToken,
} from '@regionstore/http';
import type { AdminRoutes } from './admin-routes';
import type { ClusterStore } from './cluster-store';

export interface AdminApiDeps {
  store: ClusterStore;
  supervisor: SupervisorService;
  metrics: Registry;
  adminToken: string | undefined;
  isLeader: () => boolean;
  leaderId: () => Promise<string | null>;
  /** Per node, the highest phi of its regions' failure detectors. */
  phiByNode: () => Promise<Map<string, number>>;
  /** What other plugins add (backup and restore, Bull Board, …). */
  routes?: readonly AdminRoutes[];
  /** Access log (debug) and 5xx errors. */
  logger?: Logger;
}

const migrateSchema = z.strictObject({
  regionId: regionIdCodec,
  to: nodeIdSchema,
  timeoutMs: z.number().int().positive().default(60_000),
});
const maintenanceSchema = z.strictObject({ enabled: z.boolean() });
const mergeSchema = z.strictObject({
  /** The region that stays and takes over the other's range. */
  regionId: regionIdCodec,
  /** The adjacent region merged into it (both must be led by one node). */
  source: regionIdCodec,
  timeoutMs: z.number().int().positive().default(60_000),
});
const splitSchema = z.strictObject({
  regionId: regionIdCodec,
  /** Where to split (base64); default: near the middle of the region's data. */
  key: bytesCodec.optional(),
  /** Past it, a split whose leader died ends (or writes its routes); a live leader is waited for. */
  timeoutMs: z.number().int().positive().default(60_000),
});

/**
 * The metasrv's HTTP API: `/v1/routes` for clients; `/admin/*` (bearer token when configured) for
 * operators: cluster status, route lookup, maintenance, migration, split, merge and their procedures; `/health`,
 * `/ready`, `/metrics`; and the routes other plugins add (`deps.routes`).
 */
export async function buildAdminApi(deps: AdminApiDeps): Promise<FastifyInstance> {
  // Admin bodies are a few fields; nothing larger is legitimate (a 4 MiB string once filled Redis).
  const app = Fastify({ bodyLimit: 64 * 1024, ...requestIdOptions });
  if (deps.logger) installRequestLogging(app, deps.logger);
  installErrorHandler(app);

  // Clients read routes, and probes health and metrics, without the token; everything else needs it.
  requireBearerToken(
    app,
    deps.adminToken,
    ['/v1/routes', '/health', '/ready', '/metrics'],
    'the admin API (adminToken)',
    { routePrefixes: (deps.routes ?? []).flatMap((r) => (r.browserPrefix ? [r.browserPrefix] : [])) },
  );

  const leaderOnly = async () => {
    if (!deps.isLeader()) {
      throw new NotLeaderError('this metasrv is a standby; send this to the leader', {
        leader: await deps.leaderId(),
      });
    }
  };

  app.get('/v1/routes', async () =>
    z.encode(routesResponseSchema, { routes: await deps.store.clientRoutes() }),
  );

  app.get('/admin/status', async () => {
    const [nodes, routes, phi] = await Promise.all([
      deps.store.nodes(),
      deps.store.clientRoutes(),
      deps.phiByNode(),
    ]);
    const sizes = deps.supervisor.regionSizes();
    const growth = deps.supervisor.regionGrowth();
    const keys = deps.supervisor.regionKeys();
    return {
      leader: await deps.leaderId(),
      maintenance: await deps.supervisor.maintenance.isEnabled(),
      nodes: nodes.map((n) => ({
        id: n.id,
        address: n.address,
        state: n.alive ? 'alive' : 'dead',
        lastHeartbeatMs: n.lastHeartbeatMs,
        regions: n.regions,
        leaders: n.leaders,
        phi: phi.get(n.id) ?? null,
        drained: n.drained,
      })),
      regions: routes.map((r) => ({
        regionId: r.regionId.toString(),
        start: r.start.toString('base64'),
        end: r.end.toString('base64'),
        leader: r.leader,
        epoch: r.epoch,
        state: r.state,
        // As its leader last reported it; null on a standby, or before a report
        approximateSizeBytes: sizes.get(r.regionId.value) ?? null,
        // MVCC versions, estimated from the size (see the storage node's buildHeartbeat); null likewise
        approximateKeys: keys.get(r.regionId.value) ?? null,
        // Over the last 10 s of those reports; null until two came 10 s apart (balancing waits too)
        growthBytesPerSec: growth.get(r.regionId.value) ?? null,
      })),
    };
  });

  app.get('/admin/route', async (request) => {
    const { key } = parseBody(z.object({ key: bytesCodec }), request.query);
    const route = await deps.store.routeForKey(key);
    if (!route) throw new NotFoundError(`no region holds key ${key.toString('base64')}`);
    return {
      regionId: route.regionId.toString(),
      leader: route.leader,
      epoch: route.epoch,
      state: route.state,
    };
  });

  app.post('/admin/maintenance', async (request) => {
    const { enabled } = parseBody(maintenanceSchema, request.body);
    if (enabled) await deps.supervisor.maintenance.enable();
    else await deps.supervisor.maintenance.disable();
    return { maintenance: enabled };
  });

  app.post('/admin/migrate', async (request) => {
    await leaderOnly();
    const body = parseBody(migrateSchema, request.body);
    const route = await deps.store.get(body.regionId);
    if (!route) throw new NotFoundError(`region ${body.regionId.toString()} has no route`);
    const [from, to] = await Promise.all([deps.store.node(route.leader), deps.store.node(body.to)]);
    if (!from || !to) throw new NotFoundError(`unknown node ${!from ? route.leader : body.to}`);
    const id = await deps.supervisor.migrations.start({
      regionId: body.regionId,
      fromPeer: from,
      toPeer: to,
      timeoutMs: body.timeoutMs,
    });
    return { procedureId: id };
  });

  app.post('/admin/split', async (request) => {
    await leaderOnly();
    const body = parseBody(splitSchema, request.body);
    const id = await deps.supervisor.migrations.startSplit({
      regionId: body.regionId,
      ...(body.key ? { splitKey: body.key } : {}),
      reason: 'manual',
      timeoutMs: body.timeoutMs,
    });
    return { procedureId: id };
  });

  app.post('/admin/merge', async (request) => {
    await leaderOnly();
    const body = parseBody(mergeSchema, request.body);
    const id = await deps.supervisor.migrations.startMerge({
      regionId: body.regionId,
      source: body.source,
      reason: 'manual',
      timeoutMs: body.timeoutMs,
    });
    return { procedureId: id };
  });

  /**
   * Takes a node out (`drain`) or lets it take regions again (`undrain`). A drained node gets no new
   * region and no follower; balancing moves the regions it leads away, one per round, onto their
   * followers where it can, and the replica checker moves its followers away.
   */
  const drain = async (params: unknown, drained: boolean) => {
    const { id } = parseBody(z.object({ id: nodeIdSchema }), params);
    const nodes = await deps.store.nodes();
    const node = nodes.find((n) => n.id === id);
    if (!node) throw new NotFoundError(`unknown node ${id}`, { nodeId: id });
    const alive = nodes.filter((n) => n.alive).map((n) => n.id);
    if (!drained) await deps.store.undrain(id);
    else if (!(await deps.store.drain(id, alive)))
      throw new InvalidArgumentError(
        `draining ${id} would leave no alive node to place regions on; undrain or add one first`,
        { nodeId: id },
      );
    const routes = await deps.store.routes();
    return {
      node: id,
      drained,
      leads: routes.filter((r) => r.leader === id).length,
      follows: routes.filter((r) => r.followers?.includes(id)).length,
    };
  };
  app.post('/admin/nodes/:id/drain', async (request) => drain(request.params, true));
  app.post('/admin/nodes/:id/undrain', async (request) => drain(request.params, false));

  app.get('/admin/procedures/:id', async (request) =>
    encodeProcedureState(await deps.supervisor.migrations.get((request.params as { id: string }).id)),
  );

  app.get('/health', async () => ({ status: 'ok' }));
  // Ready: Redis answers and some instance holds the leader lease (so heartbeats are consumed).
  app.get('/ready', async (_request, reply) => {
    const leader = await deps.leaderId().catch(() => undefined);
    if (leader === undefined) return reply.status(503).send({ status: 'redis unreachable' });
    if (leader === null) return reply.status(503).send({ status: 'no leader' });
    return { status: 'ready', leader, isLeader: deps.isLeader() };
  });
  app.get('/metrics', async (_request, reply) => {
    void reply.header('content-type', deps.metrics.contentType);
    return deps.metrics.metrics();
  });

  for (const routes of deps.routes ?? []) await routes.install({ app, requireLeader: leaderOnly });
  return app;
}

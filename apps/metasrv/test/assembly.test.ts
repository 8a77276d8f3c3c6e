import 'reflect-metadata';
import { metasrvLeaderKey } from '@regionstore/protocol';
import { silentLogger, type Plugin } from '@regionstore/runtime';
import { supervisorPlugin } from '@regionstore/supervisor';
import { useRedisNamespace } from '@regionstore/testing';
import {
  METASRV,
  METASRV_PLUGINS,
  Metasrv,
  adminApiPlugin,
  clusterMetadataPlugin,
  leadershipPlugin,
  metasrvConfigSchema,
  type AdminRoutes,
  type ClusterStore,
  type MetasrvPluginConfig,
} from '../src';

const ns = useRedisNamespace('metasrv-assembly');
const TOKEN = 'assembly-token';

const config = (instanceId: string) =>
  metasrvConfigSchema.parse({
    instanceId,
    redisUrl: ns.url,
    keyPrefix: ns.prefix,
    http: { port: 0 },
    adminToken: TOKEN,
    // Long enough that a busy CI machine does not lose the lease mid-test; handover is by release.
    leaseMs: 3000,
  });

const call = (metasrv: Metasrv, path: string, auth = `Bearer ${TOKEN}`) =>
  fetch(`${metasrv.address}${path}`, { headers: { authorization: auth } });

async function untilLeader(metasrv: Metasrv): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ready = await call(metasrv, '/ready');
    if (ready.status === 200 && ((await ready.json()) as { isLeader: boolean }).isLeader) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${metasrv.config.instanceId} never became leader`);
}

describe('Metasrv assembled from plugins', () => {
  it('starts the standard plugins in order: metadata, supervisor, admin API with backup and Bull Board, lease', async () => {
    const metasrv = await Metasrv.start(config('standard'), silentLogger());
    try {
      expect(metasrv.host.names).toEqual([
        'cluster-metadata',
        'cluster-identity',
        'supervisor',
        'gc',
        'operations',
        'bull-board',
        'admin-api',
        'leadership',
      ]);
      await untilLeader(metasrv);
      expect((await call(metasrv, '/admin/backups')).status).toBe(200);
      // The GC routes are installed, with the history the config keeps.
      const gc = (await (await call(metasrv, '/admin/gc')).json()) as {
        safePoint: string;
        lifeTimeMs: number;
      };
      expect(gc.lifeTimeMs).toBe(600_000);
      // Bull Board takes the token as a Basic-auth password, as a browser sends it.
      const board = await call(metasrv, '/admin/queues/api/queues', '');
      expect(board.status).toBe(401);
      expect(board.headers.get('www-authenticate')).toMatch(/^Basic /);
      const basic = `Basic ${Buffer.from(`ops:${TOKEN}`).toString('base64')}`;
      const queues = (await (await call(metasrv, '/admin/queues/api/queues', basic)).json()) as {
        queues: { name: string }[];
      };
      expect(queues.queues.map((q) => q.name)).toContain('metasrv');
      const metrics = await (await call(metasrv, '/metrics')).text();
      expect(metrics).toMatch(/regionstore_metasrv_leader\{[^}]*\} 1/);
    } finally {
      await metasrv.stop();
    }
    // Stopping hands the lease over at once instead of letting it run out.
    const redis = await ns.connect();
    expect(await redis.get(metasrvLeaderKey(ns.prefix))).toBeNull();
  });

  it('runs an assembly of its own: fewer plugins, and routes a plugin adds behind the token and the leader guard', async () => {
    const seen: string[] = [];
    const hello: Plugin<MetasrvPluginConfig> = {
      name: 'hello',
      register(container) {
        const routes: AdminRoutes = {
          name: 'hello',
          install({ app, requireLeader }) {
            app.get('/admin/hello', async () => {
              await requireLeader();
              const store = container.resolve<ClusterStore>(METASRV.ClusterStore);
              return { nodes: (await store.nodes()).length };
            });
          },
        };
        container.register(METASRV.AdminRoutes, { useValue: routes });
      },
      start: () => void seen.push('start'),
      stop: () => void seen.push('stop'),
    };
    const leader = await Metasrv.start(config('own-leader'), silentLogger(), METASRV_PLUGINS);
    const own = await Metasrv.start(config('own'), silentLogger(), [
      clusterMetadataPlugin,
      supervisorPlugin,
      hello,
      adminApiPlugin,
      leadershipPlugin,
    ]);
    try {
      await untilLeader(leader);
      expect(seen).toEqual(['start']);
      expect((await call(own, '/admin/hello', '')).status).toBe(401);
      // A standby refuses leader-only routes and names the leader.
      const refused = await call(own, '/admin/hello');
      expect(refused.status).toBe(421);
      expect(await refused.json()).toMatchObject({ code: 'NotLeader', details: { leader: 'own-leader' } });
      // What it was not assembled with is not there.
      expect((await call(own, '/admin/backups')).status).toBe(404);
      expect((await call(own, '/admin/queues/api/queues')).status).toBe(404);

      await leader.stop();
      await untilLeader(own);
      expect(await (await call(own, '/admin/hello')).json()).toEqual({ nodes: 0 });
    } finally {
      await own.stop();
      await leader.stop();
    }
    expect(seen).toEqual(['start', 'stop']);
  });

  it('refuses a plugin registered twice before starting anything', async () => {
    await expect(
      Metasrv.start(config('twice'), silentLogger(), [...METASRV_PLUGINS, leadershipPlugin]),
    ).rejects.toThrow(/registered twice/);
  });
});

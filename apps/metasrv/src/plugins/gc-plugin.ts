import 'reflect-metadata';
import {
  TOKENS,
  gauge,
  resolveOptional,
  silentLogger,
  type Logger,
  type Plugin,
  type Registry,
  type RedisClient,
} from '@regionstore/runtime';
import { instanceCachingFactory } from 'tsyringe';
import { GcSafePoints } from '../gc-safe-points';
import { gcRoutes } from '../gc-routes';
import { METASRV, type MetasrvPluginConfig } from './tokens';

/**
 * MVCC GC: the cluster GC safepoint (moved by the leader, handed to nodes in heartbeat replies, held
 * back by service safepoints such as backups'), its admin routes and its age as a metric.
 */
export const gcPlugin: Plugin<MetasrvPluginConfig> = {
  name: 'gc',
  register(container, config) {
    container.register(METASRV.Gc, {
      useFactory: instanceCachingFactory((c) => {
        const gc = new GcSafePoints(
          c.resolve<RedisClient>(METASRV.Redis),
          config.keyPrefix,
          config.instanceId,
          config.gc,
          (resolveOptional<Logger>(c, TOKENS.Logger) ?? silentLogger()).child({ component: 'gc' }),
        );
        gauge(c.resolve<Registry>(TOKENS.Metrics), {
          component: 'metasrv',
          what: 'gc_safepoint_age',
          unit: 'seconds',
          help: 'Age of the cluster GC safepoint: how much MVCC history is kept (read from Redis)',
          collect: async (g) => {
            const { ageMs } = await gc.status();
            if (ageMs !== undefined) g.set(ageMs / 1000);
          },
        });
        return gc;
      }),
    });
    container.register(METASRV.AdminRoutes, {
      useFactory: (c) => gcRoutes(c.resolve<GcSafePoints>(METASRV.Gc)),
    });
  },
};

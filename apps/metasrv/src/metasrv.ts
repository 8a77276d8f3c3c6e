import 'reflect-metadata';
import { hostname } from 'node:os';
import {
  PluginHost,
  TOKENS,
  createMetricsRegistry,
  describeRedisTarget,
  redisTarget,
  type Logger,
  type Plugin,
} from '@regionstore/runtime';
import { supervisorPlugin } from '@regionstore/supervisor';
import { container as root } from 'tsyringe';
import type { MetasrvConfig } from './config';
import { adminApiPlugin, type AdminApiServer } from './plugins/admin-api-plugin';
import { bullBoardPlugin } from './plugins/bull-board-plugin';
import { clusterIdentityPlugin } from './plugins/cluster-identity-plugin';
import { clusterMetadataPlugin } from './plugins/cluster-metadata-plugin';
import { leadershipPlugin } from './plugins/leadership-plugin';
import { gcPlugin } from './plugins/gc-plugin';
import { operationsPlugin } from './plugins/operations-plugin';
import { METASRV, type MetasrvPluginConfig } from './plugins/tokens';

/**
 * The metasrv's plugins, in start order (they stop in reverse): metadata first and last, the lease
 * campaign last and first, so no leader work runs without the parts it drives.
 */
export const METASRV_PLUGINS: readonly Plugin<MetasrvPluginConfig>[] = [
  clusterMetadataPlugin,
  clusterIdentityPlugin,
  supervisorPlugin,
  gcPlugin,
  operationsPlugin,
  bullBoardPlugin,
  adminApiPlugin,
  leadershipPlugin,
];

/**
 * A metasrv process: its plugins in one container. Every instance serves the admin API and campaigns
 * for the leader lease; the leader consumes heartbeats, bootstraps an empty cluster, ticks the
 * supervisor and runs migrations (see Leadership).
 */
export class Metasrv {
  private constructor(
    readonly config: MetasrvPluginConfig,
    /** Starts and stops the plugins; its container resolves their parts (METASRV tokens). */
    readonly host: PluginHost<MetasrvPluginConfig>,
    private readonly logger: Logger,
  ) {}

  get address(): string {
    return this.host.container.resolve<AdminApiServer>(METASRV.AdminApi).address;
  }

  /** Starts the given plugins (the standard set by default: a process of one's own may add or drop some). */
  static async start(
    config: MetasrvConfig,
    logger: Logger,
    plugins: readonly Plugin<MetasrvPluginConfig>[] = METASRV_PLUGINS,
  ): Promise<Metasrv> {
    const settled: MetasrvPluginConfig = {
      ...config,
      instanceId: config.instanceId ?? `${hostname()}-${process.pid}`,
    };
    const container = root.createChildContainer();
    container.register(TOKENS.Logger, { useValue: logger });
    container.register(TOKENS.Metrics, {
      useValue: createMetricsRegistry({ labels: { metasrv: settled.instanceId } }),
    });
    const host = new PluginHost<MetasrvPluginConfig>(container, settled, { logger });
    await host.register(...plugins);
    await host.start();
    const metasrv = new Metasrv(settled, host, logger);
    logger.info(
      {
        instance: settled.instanceId,
        address: metasrv.address,
        redis: describeRedisTarget(redisTarget(config)),
        plugins: host.names,
      },
      'metasrv started',
    );
    return metasrv;
  }

  async stop(): Promise<void> {
    await this.host.stop();
    this.logger.info('metasrv stopped');
  }
}

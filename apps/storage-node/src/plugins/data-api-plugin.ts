import 'reflect-metadata';
import {
  TOKENS,
  counter,
  resolveOptional,
  type Logger,
  type Plugin,
  type Registry,
} from '@regionstore/runtime';
import type { KvEngine } from '@regionstore/engine';
import type { DurabilityReport } from '@regionstore/log-store';
import { WORKER_GROUP, type WorkerGroup } from '@regionstore/worker-group';
import type { FastifyInstance } from 'fastify';
import { instanceCachingFactory } from 'tsyringe';
import { buildDataApi, type DataApiDeps } from '../http-api';
import { LoadSplitDetector } from '../load-split-detector';
import { RegionReader } from '../reads';
import { RegionLeases } from '../region-leases';
import { NODE, type NodePluginConfig } from './tokens';

/** The data API's HTTP server, listening from the plugin's start to its stop. */
export class DataApiServer {
  private app: FastifyInstance | undefined;
  private loadClock: NodeJS.Timeout | undefined;
  /** Whether `/ready` says so: set by whoever started the whole node, once every part runs. */
  ready = false;
  private closing = false;

  constructor(
    private readonly http: NodePluginConfig['http'],
    private readonly apiToken: string | undefined,
  ) {}

  /** The URL other processes reach this node by (the bound port when the config asked for port 0). */
  get address(): string {
    if (this.http.advertiseUrl) return this.http.advertiseUrl;
    const bound = this.app?.server.address();
    const port = typeof bound === 'object' && bound ? bound.port : this.http.port;
    return `http://${this.http.host}:${port}`;
  }

  async listen(
    deps: Omit<DataApiDeps, 'isReady' | 'isClosing' | 'bodyLimitBytes' | 'apiToken'>,
  ): Promise<void> {
    if (deps.load) this.closeLoadSeconds(deps.load, deps.metrics);
    this.app = buildDataApi({
      ...deps,
      isReady: () => this.ready,
      isClosing: () => this.closing,
      bodyLimitBytes: this.http.bodyLimitBytes,
      apiToken: this.apiToken,
    });
    await this.app.listen({ host: this.http.host, port: this.http.port });
  }

  async close(): Promise<void> {
    this.ready = false;
    this.closing = true;
    clearInterval(this.loadClock);
    await this.app?.close();
  }

  /** Closes a second of load counts every second, counting what each hot region's second decided. */
  private closeLoadSeconds(load: LoadSplitDetector, metrics: Registry): void {
    const verdicts = counter(metrics, {
      component: 'storage_node',
      what: 'load_split_seconds',
      unit: 'total',
      help: 'Seconds a region led here was hot, by what its sampled requests allowed: split, unbalanced, sequential',
      labelNames: ['verdict'],
    });
    this.loadClock = setInterval(() => {
      for (const verdict of load.close(Date.now()).values())
        verdicts.inc({ verdict: 'splitKey' in verdict ? 'split' : verdict.skipped });
    }, 1000);
    this.loadClock.unref();
  }
}

/**
 * The data plane: `/v1/*` reads and writes over the worker group, answered only for regions this
 * node holds a lease on, plus `/health`, `/ready` and `/metrics`. Needs the engine (TOKENS.Engine) and
 * the worker group plugin.
 */
export const dataApiPlugin: Plugin<NodePluginConfig> = {
  name: 'data-api',
  register(container, config) {
    const group = () => container.resolve<WorkerGroup>(WORKER_GROUP);
    container.registerInstance(NODE.RegionLeases, new RegionLeases());
    container.register(NODE.Reader, {
      useFactory: instanceCachingFactory(
        (c) =>
          new RegionReader(
            group,
            c.resolve<KvEngine>(TOKENS.Engine),
            config.nodeId,
            c.resolve<RegionLeases>(NODE.RegionLeases),
          ),
      ),
    });
    container.registerInstance(NODE.DataApi, new DataApiServer(config.http, config.apiToken));
    if (config.loadSplit.enabled)
      container.registerInstance(NODE.LoadSplit, new LoadSplitDetector(config.loadSplit, Date.now()));
  },
  async start(container) {
    const logger = resolveOptional<Logger>(container, TOKENS.Logger);
    const durability = resolveOptional<DurabilityReport>(container, NODE.Durability);
    const load = resolveOptional<LoadSplitDetector>(container, NODE.LoadSplit);
    await container.resolve<DataApiServer>(NODE.DataApi).listen({
      group: () => container.resolve<WorkerGroup>(WORKER_GROUP),
      reader: container.resolve<RegionReader>(NODE.Reader),
      metrics: container.resolve<Registry>(TOKENS.Metrics),
      ...(durability ? { durability } : {}),
      ...(load ? { load } : {}),
      ...(logger ? { logger: logger.child({ component: 'http' }) } : {}),
    });
  },
  async stop(container) {
    await container.resolve<DataApiServer>(NODE.DataApi).close();
  },
};

import type { DependencyContainer } from 'tsyringe';
import { InternalError, toRegionStoreError } from '@regionstore/core';
import type { Logger } from './logger';
import { withTimeout } from '@regionstore/core';

/**
 * Injection tokens shared by every package. Inject by token (`@inject(TOKENS.Logger)`), never by
 * type: esbuild and tsx drop decorator metadata, so type-based injection breaks in real apps.
 */
export const TOKENS = {
  /** The config a PluginHost was made with (its plugins' `stop` has no other way to it). */
  Config: Symbol.for('regionstore.Config'),
  Logger: Symbol.for('regionstore.Logger'),
  Metrics: Symbol.for('regionstore.Metrics'),
  TimeProvider: Symbol.for('regionstore.TimeProvider'),
  TimestampAllocator: Symbol.for('regionstore.TimestampAllocator'),
  /** The node's KvEngine. */
  Engine: Symbol.for('regionstore.Engine'),
  /** The node's ConcurrencyManager (commit timestamps and write intents), shared by writers and backup. */
  ConcurrencyManager: Symbol.for('regionstore.ConcurrencyManager'),
  /** The node's LogStore (the regions' WAL). */
  LogStore: Symbol.for('regionstore.LogStore'),
  /** The ExternalStorage region snapshots and flushes go to. */
  SnapshotStorage: Symbol.for('regionstore.SnapshotStorage'),
} as const;

/** Resolves a token if the app bound it (logger, metrics, clock, …), else undefined. */
export function resolveOptional<T>(container: DependencyContainer, token: symbol): T | undefined {
  return container.isRegistered(token, true) ? container.resolve<T>(token) : undefined;
}

/**
 * A package's entry into an app: `register` binds its services in the container; `start` and `stop`
 * bring them up and down. An app is a list of plugins plus config.
 */
export interface Plugin<C = unknown> {
  readonly name: string;
  register(container: DependencyContainer, config: C): void | Promise<void>;
  start?(container: DependencyContainer): void | Promise<void>;
  stop?(container: DependencyContainer): void | Promise<void>;
}

export interface PluginHostOptions {
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
  logger?: Logger;
}

/**
 * Registers plugins in order, starts them in order, and stops them in reverse order, each step with a
 * deadline. A failed start stops the plugins already started; a failed or stuck stop does not keep the
 * others from stopping.
 */
export class PluginHost<C = unknown> {
  private readonly plugins: Plugin<C>[] = [];
  private readonly started: Plugin<C>[] = [];
  private readonly startTimeoutMs: number;
  private readonly stopTimeoutMs: number;

  constructor(
    readonly container: DependencyContainer,
    private readonly config: C,
    private readonly options: PluginHostOptions = {},
  ) {
    container.registerInstance(TOKENS.Config, config);
    this.startTimeoutMs = options.startTimeoutMs ?? 30_000;
    this.stopTimeoutMs = options.stopTimeoutMs ?? 10_000;
  }

  async register(...plugins: Plugin<C>[]): Promise<void> {
    for (const plugin of plugins) {
      if (this.plugins.some((p) => p.name === plugin.name)) {
        throw new InternalError(`plugin '${plugin.name}' is registered twice`, { plugin: plugin.name });
      }
      await plugin.register(this.container, this.config);
      this.plugins.push(plugin);
    }
  }

  get names(): string[] {
    return this.plugins.map((p) => p.name);
  }

  async start(): Promise<void> {
    for (const plugin of this.plugins) {
      if (this.started.includes(plugin)) continue;
      try {
        if (plugin.start) {
          await withTimeout(
            Promise.resolve(plugin.start(this.container)),
            this.startTimeoutMs,
            `start of plugin '${plugin.name}'`,
          );
        }
        this.started.push(plugin);
        this.options.logger?.debug({ plugin: plugin.name }, 'plugin started');
      } catch (err) {
        const cause = toRegionStoreError(err);
        this.options.logger?.error({ plugin: plugin.name, err: cause }, 'plugin failed to start');
        await this.stop().catch(() => undefined);
        throw new InternalError(
          `plugin '${plugin.name}' failed to start: ${cause.message}`,
          { plugin: plugin.name },
          { cause },
        );
      }
    }
  }

  async stop(): Promise<void> {
    const failures: string[] = [];
    while (this.started.length > 0) {
      const plugin = this.started.pop()!;
      if (!plugin.stop) continue;
      try {
        await withTimeout(
          Promise.resolve(plugin.stop(this.container)),
          this.stopTimeoutMs,
          `stop of plugin '${plugin.name}'`,
        );
        this.options.logger?.debug({ plugin: plugin.name }, 'plugin stopped');
      } catch (err) {
        const cause = toRegionStoreError(err);
        failures.push(`${plugin.name}: ${cause.message}`);
        this.options.logger?.error({ plugin: plugin.name, err: cause }, 'plugin failed to stop');
      }
    }
    if (failures.length > 0) {
      throw new InternalError(`plugins failed to stop: ${failures.join('; ')}`, { failures });
    }
  }
}

import { RealTimeProvider, toRegionStoreError, type TimeProvider } from '@regionstore/core';
import {
  createMetricsRegistry,
  parseConfig,
  silentLogger,
  type Logger,
  type Registry,
} from '@regionstore/runtime';
import type { ConcurrencyManager, KvEngine } from '@regionstore/engine';
import type { BackupResponse } from '@regionstore/protocol';
import { RateLimitedStorage, createStorage, type ExternalStorage } from '@regionstore/storage-backends';
import PQueue from 'p-queue';
import { backupRange, type RangeContext } from './backup-range';
import { backupConfigSchema, type BackupConfig, type BackupConfigInput } from './config';
import { backupMetrics, type BackupMetrics } from './metrics';
import { BackupPool } from './pool';
import { Progress } from './progress';
import { SharedLimiters } from './shared-limiters';
import type { ReadAdmission } from './read-admission';
import type { RegionInfoProvider } from './region-info';
import type { BackupTask } from './task';

export interface BackupEndpointOptions {
  /** This node's id; it starts every file name. */
  storeId: string;
  engine: KvEngine;
  regionInfo: RegionInfoProvider;
  concurrency: ConcurrencyManager;
  /**
   * Checks a backup's read ts as the node checks any read at a ts (the worker group's ReadTimestamps:
   * not past the GC safepoint, not further ahead of this node's clock than a new leader covers).
   * Absent: only the max ts is raised, as a bare engine has nothing more to check.
   */
  readAdmission?: ReadAdmission;
  config?: BackupConfigInput;
  /** Opens a request's storage URL (default: createStorage). */
  openStorage?: (url: string) => ExternalStorage;
  time?: TimeProvider;
  logger?: Logger;
  metrics?: Registry;
}

/**
 * The node's backup endpoint (TiKV's backup Endpoint): a task's range is split over the regions this
 * node leads, and `numThreads` workers share one Progress, each taking `batchSize` ranges at a time,
 * backing them up one by one and sending one response per range.
 */
export class BackupEndpoint {
  readonly config: BackupConfig;
  readonly pool: BackupPool;
  /** Each destination's `rateLimit` holds for the node, whatever the number of tasks writing there. */
  readonly limiters = new SharedLimiters();
  private readonly time: TimeProvider;
  private readonly logger: Logger;
  private readonly metrics: BackupMetrics;
  private readonly openStorage: (url: string) => ExternalStorage;
  private timer: AbortController | undefined;

  constructor(private readonly options: BackupEndpointOptions) {
    this.config = parseConfig(backupConfigSchema, options.config ?? {});
    this.time = options.time ?? new RealTimeProvider();
    this.logger = options.logger ?? silentLogger();
    this.metrics = backupMetrics(options.metrics ?? createMetricsRegistry({ defaultMetrics: false }));
    this.openStorage = options.openStorage ?? createStorage;
    this.pool = new BackupPool(() => this.time.now());
  }

  /** Runtime change of the worker count; takes effect with the next task. */
  setNumThreads(numThreads: number): void {
    this.config.numThreads = parseConfig(backupConfigSchema, { ...this.config, numThreads }).numThreads;
  }

  /** Starts the timer that drops the pool once it has been idle for `poolIdleThresholdMs`. */
  start(): void {
    if (this.timer) return;
    const controller = new AbortController();
    this.timer = controller;
    void (async () => {
      while (!controller.signal.aborted) {
        await this.time.sleep(this.config.poolIdleThresholdMs, controller.signal);
        this.onTimeout();
      }
    })().catch(() => undefined);
  }

  stop(): void {
    this.timer?.abort();
    this.timer = undefined;
  }

  onTimeout(): void {
    this.pool.checkActive(this.config.poolIdleThresholdMs);
    this.metrics.poolSize.set(this.pool.size);
  }

  /** Runs a task unless it was cancelled before it started (then it ends with no response). */
  run(task: BackupTask): void {
    if (task.isCancelled) {
      this.logger.warn('backup task was cancelled before it started');
      task.finish();
      return;
    }
    this.handleBackupTask(task);
    this.pool.heartbeat();
  }

  handleBackupTask(task: BackupTask): void {
    const { request } = task;
    let storage: ExternalStorage;
    try {
      storage = this.openStorage(request.storage);
    } catch (err) {
      // One error response for the whole request: no worker could write anywhere.
      task.send(this.errorResponse(request.startKey, request.endKey, err));
      task.finish();
      return;
    }
    const lent =
      request.rateLimit > 0 ? this.limiters.acquire(request.storage, request.rateLimit) : undefined;
    if (lent) storage = new RateLimitedStorage(storage, lent.limiter, task.signal);
    const ctx: RangeContext = {
      storeId: this.options.storeId,
      engine: this.options.engine,
      concurrency: this.options.concurrency,
      storage,
      sstMaxSize: this.config.sstMaxSize,
      metrics: this.metrics,
      logger: this.logger,
      now: () => this.time.now(),
      admitRead: (ts) =>
        this.options.readAdmission
          ? this.options.readAdmission.admit(ts)
          : this.options.concurrency.updateMaxTs(ts),
      scanned: (kvs) => task.countRead(kvs),
      cancelled: () => task.isCancelled,
    };
    const progress = new Progress(this.options.regionInfo, { start: request.startKey, end: request.endKey });
    // Workers take ranges under this lock and release it before any I/O of their own.
    const progressLock = new PQueue({ concurrency: 1 });
    const threads = this.config.numThreads;
    this.pool.adjustWith(threads);
    this.metrics.poolSize.set(this.pool.size);
    const workers = request.concurrency > 0 ? Math.min(request.concurrency, threads) : threads;
    const done = Array.from({ length: workers }, () =>
      this.pool.spawn(async () => {
        for (;;) {
          const batch = await progressLock.add(() => progress.forward(this.config.batchSize));
          if (batch.length === 0) return;
          for (const brange of batch) {
            if (task.isCancelled) {
              this.logger.warn({ regionId: brange.region.regionId.toString() }, 'backup task was cancelled');
              return;
            }
            let response: BackupResponse;
            try {
              await this.options.regionInfo.ensureLeader(brange.region);
              const files = await backupRange(ctx, brange, request, task.cf);
              response = { startKey: brange.range.start, endKey: brange.range.end, files };
            } catch (err) {
              // A cancelled task sends nothing more, not even the range its cancel cut short.
              if (task.isCancelled) return;
              this.logger.warn(
                { regionId: brange.region.regionId.toString(), err },
                'backup of a range failed',
              );
              response = this.errorResponse(brange.range.start, brange.range.end, err);
            }
            task.send(response);
          }
        }
      }),
    );
    void Promise.allSettled(done).then(() => {
      lent?.release();
      task.finish();
    });
  }

  private errorResponse(startKey: Buffer, endKey: Buffer, err: unknown): BackupResponse {
    return { startKey, endKey, files: [], error: toRegionStoreError(err).toJSON() };
  }
}

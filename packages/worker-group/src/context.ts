import type { RegionId, TimeProvider } from '@regionstore/core';
import type { Logger } from '@regionstore/runtime';
import type { ConcurrencyManager, KvEngine } from '@regionstore/engine';
import type { LogStore } from '@regionstore/log-store';
import type { RegionRunner } from '@regionstore/region-runner';
import type { ExternalStorage } from '@regionstore/storage-backends';
import type { WorkerGroupConfig } from './config';
import type { FlushNotifier } from './flush-notifier';
import type { WorkerGroupMetrics } from './metrics';
import type { BackgroundNotify } from './requests';
import type { LocalScheduler } from './scheduler';
import type { WriteBufferManager } from './write-buffer-manager';

/** What every worker of a group shares. */
export interface WorkerContext {
  nodeId: string;
  config: WorkerGroupConfig;
  engine: KvEngine;
  wal: LogStore;
  storage: ExternalStorage;
  runner: RegionRunner;
  concurrency: ConcurrencyManager;
  writeBuffer: WriteBufferManager;
  flushNotifier: FlushNotifier;
  flushScheduler: LocalScheduler;
  compactionScheduler: LocalScheduler;
  purgeScheduler: LocalScheduler;
  time: TimeProvider;
  logger: Logger;
  metrics: WorkerGroupMetrics;
  /** Hands a background job's result to the worker that owns the region. */
  notifyWorker(regionId: RegionId, notify: BackgroundNotify): void;
}

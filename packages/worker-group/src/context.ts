import type { KeyRange, RegionId, TimeProvider } from '@regionstore/core';
import type { Logger } from '@regionstore/runtime';
import type { ConcurrencyManager, KvEngine } from '@regionstore/engine';
import type { LogStore } from '@regionstore/log-store';
import type { RegionRunner } from '@regionstore/region-runner';
import type { ExternalStorage, RateLimiter } from '@regionstore/storage-backends';
import type { WorkerGroupConfig } from './config';
import type { FlushNotifier } from './flush-notifier';
import type { GcSafePoint } from './gc-safe-point';
import type { WorkerGroupMetrics } from './metrics';
import type { BackgroundNotify } from './requests';
import type { WorkerRegion } from './region';
import type { ReadTimestamps } from './read-timestamps';
import type { RecentWrites } from './recent-writes';
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
  gcSafePoint: GcSafePoint;
  /** Shared by the GC of every region of the node (`gcBytesPerSecond`). */
  gcLimiter: RateLimiter;
  readTimestamps: ReadTimestamps;
  writeBuffer: WriteBufferManager;
  flushNotifier: FlushNotifier;
  flushScheduler: LocalScheduler;
  compactionScheduler: LocalScheduler;
  purgeScheduler: LocalScheduler;
  time: TimeProvider;
  logger: Logger;
  metrics: WorkerGroupMetrics;
  /**
   * Recent writes of a region's history handed to the region that goes on with it here, by the id of
   * the one taking them (a split's child) or giving them (a merge's source), until it is opened or
   * merged.
   */
  inheritedWrites: Map<bigint, RecentWrites>;
  /**
   * The ranges of every region open or opening on this node but `except`: a range queued for deletion
   * leaves them out (a copy of an old, wider range must not take a newer, narrower copy's data).
   */
  liveRanges(except: RegionId): KeyRange[];
  /**
   * Hands a background job's result to the worker that owns the region. It names the open region
   * object the job ran for: a region closed and opened again under the same id is not the job's.
   */
  notifyWorker(region: WorkerRegion, notify: BackgroundNotify): void;
}

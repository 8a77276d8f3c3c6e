import {
  NotFoundError,
  RealTimeProvider,
  WorkerStoppedError,
  escapeKey,
  failpoint,
  isRegionStoreError,
  rangesOverlap,
  subtractRanges,
  type KeyRange,
  type RegionId,
  type TimeProvider,
} from '@regionstore/core';
import {
  createMetricsRegistry,
  parseConfig,
  silentLogger,
  type Logger,
  type Registry,
} from '@regionstore/runtime';
import {
  CF_LOCK,
  DATA_CFS,
  WriteBatch,
  clearSnapshotRaftState,
  readApplyState,
  writeRegionLocalState,
  applyStateKey,
  type DeleteStrategy,
  type KvEngine,
} from '@regionstore/engine';
import type { ExternalStorage } from '@regionstore/storage-backends';
import PQueue from 'p-queue';
import { ApplyStatus } from './apply-status';
import { regionRunnerConfigSchema, type RegionRunnerConfig, type RegionRunnerConfigInput } from './config';
import { regionRunnerMetrics, type RegionRunnerMetrics } from './metrics';
import { PendingDeleteRanges } from './pending-delete-ranges';
import { PersistedDeleteRanges } from './persisted-delete-ranges';
import {
  generateRegionSnapshot,
  loadRegionSnapshot,
  regionDataBounds,
  requireRegionLocalState,
  snapshotName,
  verifyRegionSnapshot,
  type GeneratedSnapshot,
} from './region-snapshot';
import type { ApplyTask, DestroyTask, GenTask, RegionTask } from './task';

/** At most this many stale ranges are deleted in one cleanup pass. */
export const CLEANUP_MAX_REGION_COUNT = 128;

/** Where the runner reports finished generations (the node's region router). */
export interface SnapshotRouter {
  send(regionId: RegionId, message: { type: 'SnapshotGenerated'; snapshot: GeneratedSnapshot }): void;
}

export interface RegionRunnerOptions {
  engine: KvEngine;
  /** Where snapshots are written and read. */
  storage: ExternalStorage;
  router?: SnapshotRouter;
  config?: RegionRunnerConfigInput;
  time?: TimeProvider;
  logger?: Logger;
  metrics?: Registry;
}

/**
 * The storage node's region worker, after TiKV's: generates region snapshots on a small pool, applies
 * snapshots strictly in arrival order (holding them back while an apply could stall writes), and
 * deletes destroyed regions' data once no snapshot can still read it.
 *
 * Applies, destroys and timer ticks run one at a time on a serial queue; generations run beside them.
 */
export class RegionRunner {
  readonly pendingDeleteRanges = new PendingDeleteRanges();
  readonly config: RegionRunnerConfig;
  private readonly engine: KvEngine;
  private readonly persisted: PersistedDeleteRanges;
  private readonly storage: ExternalStorage;
  private readonly router: SnapshotRouter | undefined;
  private readonly time: TimeProvider;
  private readonly logger: Logger;
  private readonly metrics: RegionRunnerMetrics;
  private readonly serial = new PQueue({ concurrency: 1 });
  private readonly generators: PQueue;
  private readonly pendingApplies: ApplyTask[] = [];
  /** Compactions of deleted ranges still running (stop waits for them). */
  private readonly reclaiming = new Set<Promise<void>>();
  /** Deletions running now; a drain waits for those overlapping its range. */
  private readonly deleting = new Set<{ range: KeyRange; done: Promise<void> }>();
  private cleanStaleTicks = 0;
  private timer: AbortController | undefined;
  private stopped = false;

  constructor(options: RegionRunnerOptions) {
    this.engine = options.engine;
    this.persisted = new PersistedDeleteRanges(options.engine);
    this.storage = options.storage;
    this.router = options.router;
    this.config = parseConfig(regionRunnerConfigSchema, options.config ?? {});
    this.time = options.time ?? new RealTimeProvider();
    this.logger = options.logger ?? silentLogger();
    this.metrics = regionRunnerMetrics(options.metrics ?? createMetricsRegistry({ defaultMetrics: false }));
    this.generators = new PQueue({ concurrency: this.config.snapGeneratorPoolSize });
  }

  /** Applies waiting for L0 to shrink, oldest first. */
  get pendingApplyCount(): number {
    return this.pendingApplies.length;
  }

  /** Generations running or queued. */
  get generatingCount(): number {
    return this.generators.pending + this.generators.size;
  }

  /**
   * Takes back the deletions registered before a restart (they are kept in the engine); the first
   * cleanup deletes them, unless a region opened over them drains them first.
   */
  async restorePendingDeletes(): Promise<number> {
    return this.serial.add(async () => {
      let restored = 0;
      for (const range of await this.persisted.load()) {
        if (this.pendingDeleteRanges.findOverlapRanges(range.startKey, range.endKey).length > 0) continue;
        this.pendingDeleteRanges.insert(range.regionId, range.startKey, range.endKey, range.staleSequence);
        restored++;
      }
      this.metrics.pendingDeleteRanges.set(this.pendingDeleteRanges.size);
      return restored;
    });
  }

  /**
   * Deletes now every pending deletion overlapping a region's range, and waits for those already
   * running over it, so none can run later over the region about to be opened there. Resolves with
   * how many there were (their ranges are empty now). It does not queue behind the runner's other
   * work: an open never waits for an unrelated cleanup or apply.
   */
  drainOverlapRanges(range: KeyRange): Promise<number> {
    if (this.stopped) return Promise.reject(new WorkerStoppedError('region runner is stopped'));
    return this.cleanupOverlapRanges(regionDataBounds(range));
  }

  /**
   * Registers a destroyed region's range for deletion and resolves once it is registered (and
   * persisted); the cleanup that may delete it follows on the runner's queue. For callers that must
   * not wait for that cleanup (a worker whose other regions keep serving meanwhile). `live` names the
   * ranges to leave out (regions open or opening here): read in the same step as the registration, so
   * a region that starts opening over the range later drains it, and one that started before is left
   * out.
   */
  async registerDestroy(task: DestroyTask, live?: () => readonly KeyRange[]): Promise<void> {
    if (this.stopped) throw new WorkerStoppedError('region runner is stopped');
    await this.registerRange(task, live);
    void this.serial
      .add(() => this.cleanAfterDestroy())
      .catch((err: unknown) => this.logger.warn({ err }, 'cleanup after a destroy failed'));
  }

  /** Starts the timer that retries delayed applies and cleans stale ranges. */
  start(): void {
    if (this.timer || this.stopped) return;
    const controller = new AbortController();
    this.timer = controller;
    void this.tickLoop(controller.signal).catch((err: unknown) => {
      if (!controller.signal.aborted) this.logger.error({ err }, 'region runner timer stopped');
    });
  }

  /**
   * Stops the timer, lets running tasks finish, and cancels applies still waiting. Tasks scheduled
   * afterwards fail with WorkerStopped.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.abort();
    this.timer = undefined;
    await Promise.all([this.serial.onIdle(), this.generators.onIdle()]);
    await Promise.all([...this.reclaiming]);
    for (const task of this.pendingApplies.splice(0)) task.handle.finish(ApplyStatus.Cancelled);
  }

  schedule(task: GenTask): Promise<GeneratedSnapshot | undefined>;
  schedule(task: ApplyTask): Promise<ApplyStatus>;
  schedule(task: DestroyTask): Promise<void>;
  schedule(task: RegionTask): Promise<GeneratedSnapshot | ApplyStatus | undefined | void>;
  schedule(task: RegionTask): Promise<GeneratedSnapshot | ApplyStatus | undefined | void> {
    if (this.stopped) {
      if (task.type === 'Gen') void task.snapshot.release();
      return Promise.reject(new WorkerStoppedError('region runner is stopped'));
    }
    switch (task.type) {
      case 'Gen':
        return this.generators.add(() => this.handleGen(task));
      case 'Apply':
        return this.serial.add(() => this.enqueueApply(task)).then(() => task.handle.done);
      case 'Destroy':
        return this.serial.add(() => this.handleDestroy(task));
    }
  }

  /** One timer tick: retry delayed applies; every `cleanStaleTick` ticks, clean stale ranges. */
  tick(): Promise<void> {
    return this.serial.add(async () => {
      await this.handlePendingApplies();
      this.cleanStaleTicks += 1;
      if (this.cleanStaleTicks >= this.config.cleanStaleTick) {
        this.cleanStaleTicks = 0;
        await this.cleanStaleRanges();
      }
    });
  }

  private async tickLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.time.sleep(this.config.tickIntervalMs, signal);
      await this.tick().catch((err: unknown) => this.logger.warn({ err }, 'region runner tick failed'));
    }
  }

  // --- Gen ---------------------------------------------------------------------------------------

  private async handleGen(task: GenTask): Promise<GeneratedSnapshot | undefined> {
    const region = task.regionId.toString();
    try {
      if (await failpoint('before_region_gen_snap')) return undefined;
      this.metrics.snapshots.inc({ task: 'generate', outcome: 'all' });
      if (task.signal?.aborted) {
        this.logger.info({ regionId: region }, 'snapshot generation cancelled before it started');
        return undefined;
      }
      const stopTimer = this.metrics.durations.startTimer({ task: 'generate' });
      let snapshot: GeneratedSnapshot;
      try {
        snapshot = await generateRegionSnapshot(task.snapshot, this.storage, {
          regionId: task.regionId,
          term: task.term,
          applyState: task.applyState,
          compression: this.config.snapshotCompression,
          ...(task.signal ? { signal: task.signal } : {}),
          ...(task.tag ? { tag: task.tag } : {}),
        });
      } catch (err) {
        if (task.signal?.aborted) {
          this.logger.info({ regionId: region }, 'snapshot generation cancelled');
          return undefined;
        }
        this.metrics.snapshots.inc({ task: 'generate', outcome: 'fail' });
        this.logger.error({ regionId: region, err }, 'snapshot generation failed');
        throw err;
      }
      if (await failpoint('region_gen_snap')) return undefined;
      // The requester may have gone (leadership moved); the router still learns of the snapshot.
      this.router?.send(task.regionId, { type: 'SnapshotGenerated', snapshot });
      this.metrics.snapshots.inc({ task: 'generate', outcome: 'success' });
      stopTimer();
      this.logger.info(
        { regionId: region, name: snapshot.name, kvCount: snapshot.kvCount },
        'snapshot generated',
      );
      return snapshot;
    } finally {
      await task.snapshot.release();
    }
  }

  // --- Apply -------------------------------------------------------------------------------------

  private async enqueueApply(task: ApplyTask): Promise<void> {
    if (await failpoint('on_region_worker_apply')) return;
    // Applies run in arrival order: a new one always queues behind those already waiting.
    this.pendingApplies.push(task);
    await this.handlePendingApplies();
    if (this.pendingApplies.length > 0) this.metrics.snapshots.inc({ task: 'apply', outcome: 'delay' });
  }

  private async handlePendingApplies(): Promise<void> {
    if (await failpoint('apply_pending_snapshot')) return;
    while (this.pendingApplies.length > 0) {
      // L0 changes under us (flushes, compactions, our own loads), so it is checked before each apply.
      if (await this.ingestMaybeStall()) return;
      await this.handleApply(this.pendingApplies.shift()!);
    }
  }

  private async handleApply(task: ApplyTask): Promise<void> {
    const { handle, regionId } = task;
    handle.start();
    this.metrics.snapshots.inc({ task: 'apply', outcome: 'all' });
    const stopTimer = this.metrics.durations.startTimer({ task: 'apply' });
    try {
      await this.applySnapshot(task);
      handle.finish(ApplyStatus.Finished);
      this.metrics.snapshots.inc({ task: 'apply', outcome: 'success' });
    } catch (err) {
      if (err instanceof Error && isRegionStoreError(err, 'Cancelled')) {
        this.logger.warn({ regionId: regionId.toString() }, 'snapshot apply cancelled');
        handle.finish(ApplyStatus.Cancelled);
        this.metrics.snapshots.inc({ task: 'apply', outcome: 'abort' });
      } else {
        this.logger.error({ regionId: regionId.toString(), err }, 'snapshot apply failed');
        handle.finish(ApplyStatus.Failed, err as Error);
        this.metrics.snapshots.inc({ task: 'apply', outcome: 'fail' });
      }
    } finally {
      stopTimer();
    }
  }

  private async applySnapshot({ regionId, handle, source }: ApplyTask): Promise<void> {
    if (await failpoint('region_apply_snap')) return;
    handle.checkAbort();
    const local = await requireRegionLocalState(this.engine, regionId);
    const applyState = await readApplyState(this.engine, regionId);
    if (!applyState) {
      const key = applyStateKey(regionId).toString('hex');
      throw new NotFoundError(`failed to get apply state of ${regionId.toString()} from key ${key}`, { key });
    }
    const name =
      source?.name ??
      snapshotName({ regionId, term: applyState.truncatedTerm, index: applyState.truncatedIndex });
    // Verified in full before the region's old data goes, so a damaged file leaves the region as it was.
    await verifyRegionSnapshot(this.storage, name, source?.region ?? regionId, source?.sha256);
    handle.checkAbort();
    const bounds = regionDataBounds(local.range);
    await this.cleanupOverlapRanges(bounds);
    await this.deleteAllInRange([bounds]);
    handle.checkAbort();
    await loadRegionSnapshot(this.engine, this.storage, name, {
      bounds,
      batchBytes: this.config.applyBatchBytes,
      between: () => handle.checkAbort(),
    });
    const batch = new WriteBatch();
    writeRegionLocalState(batch, { ...local, state: 'Normal' });
    clearSnapshotRaftState(batch, regionId);
    await this.engine.write(batch);
    this.logger.info({ regionId: regionId.toString(), name }, 'snapshot applied');
  }

  /** True when adding files to L0 of a data CF could slow writes down. */
  private async ingestMaybeStall(): Promise<boolean> {
    for (const cf of DATA_CFS) {
      // The lock CF holds a few short-lived keys; its L0 never decides a stall (as in TiKV).
      if (cf === CF_LOCK) continue;
      if (await this.engine.ingestMaybeSlowdownWrites(cf)) return true;
    }
    return false;
  }

  // --- Destroy and stale ranges ------------------------------------------------------------------

  private async handleDestroy(task: DestroyTask): Promise<void> {
    if (await failpoint('on_region_worker_destroy')) return;
    await this.registerRange(task);
    await this.cleanAfterDestroy();
  }

  private async cleanAfterDestroy(): Promise<void> {
    if (!(await this.ingestMaybeStall())) await this.cleanStaleRanges();
  }

  private async registerRange(task: DestroyTask, live?: () => readonly KeyRange[]): Promise<void> {
    const bounds = regionDataBounds(task.range);
    // Deletion is delayed: a snapshot taken before now may still be read by a scan or a backup.
    try {
      await this.cleanupOverlapRanges(bounds);
    } catch (err) {
      this.logger.warn({ regionId: task.regionId.toString(), err }, 'cleanup of overlapping ranges failed');
    }
    const staleSequence = this.engine.latestSequence();
    const parts = (live ? subtractRanges(task.range, live()) : [task.range]).map((part) => {
      const { start, end } = regionDataBounds(part);
      return { regionId: task.regionId, startKey: start, endKey: end, staleSequence };
    });
    // Registered in memory in the same step as `live` was read (an open drains what is registered),
    // then persisted: a restart before that leaves the range undeleted, never deletes a live one.
    for (const range of parts)
      this.pendingDeleteRanges.insert(range.regionId, range.startKey, range.endKey, staleSequence);
    this.metrics.pendingDeleteRanges.set(this.pendingDeleteRanges.size);
    await failpoint('region_destroy_before_persist'); // a test hook: registered, not yet persisted
    for (const range of parts) await this.persisted.save(range);
    // A drain or cleanup that took a part meanwhile removed its record before it was written: it goes
    // now, or a restart would delete the range again under whatever opened there since.
    const taken = parts.filter(
      (part) =>
        !this.pendingDeleteRanges
          .findOverlapRanges(part.startKey, part.endKey)
          .some((r) => r.startKey.equals(part.startKey) && r.staleSequence === part.staleSequence),
    );
    await this.persisted.remove(taken);
    for (const range of parts) {
      this.logger.info(
        {
          regionId: task.regionId.toString(),
          start: escapeKey(range.startKey),
          end: escapeKey(range.endKey),
        },
        'registered range for deletion',
      );
    }
  }

  /** Runs `work`, which deletes `ranges`, where drains see it until it ends. */
  private async tracked(ranges: KeyRange[], work: () => Promise<void>): Promise<void> {
    const done = work();
    const settled = done.then(
      () => undefined,
      () => undefined,
    );
    const entries = ranges.map((range) => ({ range, done: settled }));
    for (const entry of entries) this.deleting.add(entry);
    try {
      await done;
    } finally {
      for (const entry of entries) this.deleting.delete(entry);
    }
  }

  /**
   * Deletes the pending ranges overlapping `bounds` now (a new region needs the space), after any
   * deletion already running over them has ended.
   */
  private async cleanupOverlapRanges(bounds: KeyRange): Promise<number> {
    const overlaps = this.pendingDeleteRanges.drainOverlapRanges(bounds.start, bounds.end);
    this.metrics.pendingDeleteRanges.set(this.pendingDeleteRanges.size);
    const running = [...this.deleting].filter((d) => rangesOverlap(d.range, bounds));
    await Promise.all(running.map((d) => d.done));
    if (overlaps.length === 0) return 0;
    const oldest = this.engine.oldestSnapshotSequence() ?? Number.MAX_SAFE_INTEGER;
    const ranges: KeyRange[] = [];
    const fileRanges: KeyRange[] = [];
    for (const overlap of overlaps) {
      const range = { start: overlap.startKey, end: overlap.endKey };
      // Dropping files breaks the consistency of snapshots that still read the range.
      if (overlap.staleSequence < oldest) fileRanges.push(range);
      else this.metrics.overlapWithoutDeleteFiles.inc();
      ranges.push(range);
    }
    await this.tracked(ranges, () => this.deleteAllInRange(ranges));
    // The region about to open does not wait for its space to be reclaimed.
    this.reclaimSpace(fileRanges);
    await this.persisted.remove(overlaps);
    return overlaps.length;
  }

  private async cleanStaleRanges(): Promise<void> {
    this.metrics.pendingDeleteRanges.set(this.pendingDeleteRanges.size);
    const oldest = this.engine.oldestSnapshotSequence() ?? Number.MAX_SAFE_INTEGER;
    // staleRanges is in start-key order already.
    const stale = this.pendingDeleteRanges.staleRanges(oldest).slice(0, CLEANUP_MAX_REGION_COUNT);
    if (stale.length === 0) return;
    const ranges = stale.map((r) => ({ start: r.startKey, end: r.endKey }));
    // Taken out while they are deleted: a drain over one of them waits for this deletion instead.
    for (const range of stale) this.pendingDeleteRanges.remove(range.startKey);
    try {
      await this.tracked(ranges, () => this.deleteAllInRange(ranges));
    } catch (err) {
      this.logger.error({ err }, 'cleanup of stale ranges failed');
      for (const range of stale) {
        if (this.pendingDeleteRanges.findOverlapRanges(range.startKey, range.endKey).length === 0)
          this.pendingDeleteRanges.insert(range.regionId, range.startKey, range.endKey, range.staleSequence);
      }
      return;
    }
    this.reclaimSpace(ranges);
    await this.persisted
      .remove(stale)
      .catch((err: unknown) =>
        this.logger.warn({ err }, 'forgetting deleted ranges failed; they are deleted again after a restart'),
      );
    this.metrics.pendingDeleteRanges.set(this.pendingDeleteRanges.size);
  }

  /**
   * Best effort, after the deletion itself: compacts the deleted ranges so their space is freed (what
   * TiKV's DeleteFiles is for). It is outside what drains wait for: a compaction never removes a
   * version written after the deletion, so a region may already be open there again.
   */
  private reclaimSpace(ranges: KeyRange[]): void {
    if (ranges.length === 0) return;
    const done = (async () => {
      for (const cf of DATA_CFS) {
        for (const range of ranges) await this.engine.compactRange(cf, range.start, range.end);
      }
    })()
      .catch((err: unknown) => this.logger.warn({ err }, 'reclaiming the space of deleted ranges failed'))
      .finally(() => this.reclaiming.delete(done));
    this.reclaiming.add(done);
  }

  private async deleteAllInRange(ranges: KeyRange[]): Promise<void> {
    if (ranges.length === 0) return;
    for (const cf of DATA_CFS) {
      const strategy: DeleteStrategy =
        cf === CF_LOCK ? 'DeleteByKey' : this.config.useDeleteRange ? 'DeleteByRange' : 'DeleteByWriter';
      await this.engine.deleteRanges(cf, strategy, ranges);
    }
  }
}

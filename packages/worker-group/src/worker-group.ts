import {
  EpochNotMatchError,
  NotFoundError,
  RealTimeProvider,
  failpoint,
  RegionId,
  TimestampAllocator,
  physicalOf,
  rangesOverlap,
  type TimeProvider,
  type Timestamp,
} from '@regionstore/core';
import {
  createMetricsRegistry,
  parseConfig,
  silentLogger,
  type Logger,
  type Registry,
} from '@regionstore/runtime';
import { ConcurrencyManager, readRegionLocalState, type KvEngine } from '@regionstore/engine';
import type { LogStore } from '@regionstore/log-store';
import type { RegionRunner } from '@regionstore/region-runner';
import { RateLimiter, type ExternalStorage } from '@regionstore/storage-backends';
import { committedManifest, latestManifest, type FlushManifest } from '@regionstore/region-files';
import { workerGroupConfigSchema, type WorkerGroupConfig, type WorkerGroupConfigInput } from './config';
import type { WorkerContext } from './context';
import { FlushNotifier } from './flush-notifier';
import { mergeDone } from './handle-merge';
import { NoFlushToInherit, inheritFlushHook, inheritableFlush } from './inherit-flush';
import { FollowerTailer } from './follower-tailer';
import { GcSafePoint } from './gc-safe-point';
import { workerGroupMetrics } from './metrics';
import { checkAskedPlacement, type WorkerRegion } from './region';
import { regionIdToIndex } from './region-index';
import { finishInterruptedDrops } from './handle-drop';
import { RegionWorker } from './region-worker';
import { ReadTimestamps } from './read-timestamps';
import { Reply } from './reply';
import type { DdlRequest, DdlResult, WorkerRequest, WriteRequest, WriteResult } from './requests';
import { LocalScheduler } from './scheduler';
import { WriteBufferManager } from './write-buffer-manager';

export interface WorkerGroupOptions {
  nodeId: string;
  engine: KvEngine;
  wal: LogStore;
  /** Where flushed snapshots and manifests go (the region runner writes to the same storage). */
  storage: ExternalStorage;
  runner: RegionRunner;
  config?: WorkerGroupConfigInput;
  /** Shared with readers (backup) that check write intents; one per node. */
  concurrency?: ConcurrencyManager;
  time?: TimeProvider;
  logger?: Logger;
  metrics?: Registry;
  /** The random part of each worker's first periodic check (tests pin it). */
  random?: () => number;
}

/**
 * The node's region workers (GreptimeDB's WorkerGroup): every region request goes to the worker
 * `regionIdToIndex(region, numWorkers)`, which owns that region. Flush, compaction and purge jobs run
 * on schedulers of their own, shared by the workers.
 */
export class WorkerGroup {
  readonly config: WorkerGroupConfig;
  readonly concurrency: ConcurrencyManager;
  readonly writeBuffer: WriteBufferManager;
  /** What reads at a ts on this node must obey (the GC safepoint, the read-ahead bound). */
  readonly readTimestamps: ReadTimestamps;
  private readonly gc = new GcSafePoint();
  private readonly workers: RegionWorker[];
  private readonly ctx: WorkerContext;
  private readonly tailer: FollowerTailer;

  private constructor(options: WorkerGroupOptions) {
    this.config = parseConfig(workerGroupConfigSchema, options.config ?? {});
    const time = options.time ?? new RealTimeProvider();
    this.concurrency = options.concurrency ?? new ConcurrencyManager(new TimestampAllocator(time));
    this.writeBuffer = new WriteBufferManager(
      this.config.globalWriteBufferSize,
      this.config.globalWriteBufferRejectSize,
    );
    this.readTimestamps = new ReadTimestamps(this.gc, this.concurrency, time, this.config.maxReadAheadMs);
    const metrics = workerGroupMetrics(
      options.metrics ?? createMetricsRegistry({ defaultMetrics: false }),
      () => this.gcSafePointAgeSeconds(time),
      () => Math.max(0, ...this.followers().map((r) => r.lagEntries)),
    );
    this.ctx = {
      nodeId: options.nodeId,
      config: this.config,
      engine: options.engine,
      wal: options.wal,
      storage: options.storage,
      runner: options.runner,
      concurrency: this.concurrency,
      gcSafePoint: this.gc,
      gcLimiter: new RateLimiter(this.config.gcBytesPerSecond),
      readTimestamps: this.readTimestamps,
      writeBuffer: this.writeBuffer,
      flushNotifier: new FlushNotifier(),
      flushScheduler: new LocalScheduler('flush', this.config.maxBackgroundFlushes),
      compactionScheduler: new LocalScheduler('compaction', this.config.maxBackgroundCompactions),
      purgeScheduler: new LocalScheduler('purge', this.config.maxBackgroundPurges),
      time,
      logger: options.logger ?? silentLogger(),
      metrics,
      inheritedWrites: new Map(),
      liveRanges: (except) =>
        this.workers.flatMap((worker) => [
          ...worker.regions
            .list()
            .filter((r) => r.regionId.value !== except.value)
            .map((r) => r.range),
          ...[...worker.openingRegions].filter(([id]) => id !== except.value).map(([, range]) => range),
        ]),
      notifyWorker: (region, notify) => {
        this.worker(region.regionId)
          .submit({ kind: 'background', region, notify })
          .catch(() => undefined); // the worker stopped; the region is closed anyway
      },
    };
    this.tailer = new FollowerTailer({
      wal: options.wal,
      nodeId: this.ctx.nodeId,
      followers: () => this.followers(),
      apply: async (regionId, entries, position) => {
        const reply = new Reply<void>();
        await this.submitToWorker(regionId, { kind: 'followerTail', regionId, entries, position, reply });
        await reply.promise;
      },
      blockMs: this.config.followerTailBlockMs,
      batchSize: 512,
      positionIntervalMs: Math.min(200, this.config.resolvedTsIntervalMs || 200),
      time,
      logger: this.ctx.logger,
    });
    const random = options.random ?? Math.random;
    this.workers = Array.from(
      { length: this.config.numWorkers },
      (_, id) => new RegionWorker(id, this.ctx, Math.floor(random() * this.config.maxInitialCheckDelayMs)),
    );
  }

  static start(options: WorkerGroupOptions): WorkerGroup {
    const group = new WorkerGroup(options);
    for (const worker of group.workers) worker.start();
    group.tailer.start();
    const { ctx } = group;
    void ctx.purgeScheduler
      .schedule(() => finishInterruptedDrops(ctx))
      .then(
        (finished) => {
          if (finished.length > 0)
            ctx.logger.info({ regions: finished.map((id) => id.toString()) }, 'finished interrupted drops');
        },
        (err: unknown) => ctx.logger.warn({ err }, 'finishing interrupted drops failed'),
      );
    return group;
  }

  /** Stops the schedulers (letting their jobs end), then every worker, which closes its regions. */
  async stop(): Promise<void> {
    await this.tailer.stop();
    await this.ctx.compactionScheduler.stop(true);
    await this.ctx.flushScheduler.stop(true);
    await this.ctx.purgeScheduler.stop(true);
    await Promise.all(this.workers.map((worker) => worker.stop()));
  }

  /**
   * Flushes what the leading regions took since their last flush, a delta each, `maxBackgroundFlushes`
   * at a time, starting none after `stopFlushTimeoutMs` (the ones running then end on their own: one
   * delta each). For a node about to stop, while it still leads: its next open replays less and Redis
   * holds less meanwhile. Not needed for safety (the WAL holds every acknowledged write), so a flush
   * that fails is only counted.
   */
  async flushLeaders(deadlineMs: number = this.config.stopFlushTimeoutMs): Promise<void> {
    const left = this.regions().filter((r) => r.isWritable && r.lastEntryId > r.flushedEntryId);
    const total = left.length;
    const end = Date.now() + deadlineMs;
    let failed = 0;
    const lane = async () => {
      while (left.length > 0 && Date.now() < end) {
        const region = left.shift()!;
        await this.ddl(region.regionId, { type: 'flush', incremental: true }).catch(() => failed++);
      }
    };
    await Promise.all(Array.from({ length: this.config.maxBackgroundFlushes }, lane));
    if (left.length > 0 || failed > 0)
      this.ctx.logger.warn(
        { regions: total, notFlushed: left.length, failed, deadlineMs },
        'flushes before stop left part of the WAL to replay',
      );
  }

  /** The cluster GC safepoint this node knows. */
  get gcSafePoint(): Timestamp {
    return this.gc.value;
  }

  /**
   * Takes a GC safepoint from the metasrv (an older one is ignored). Leader regions with versions below
   * it are collected at their next periodic check.
   */
  advanceGcSafePoint(ts: Timestamp): void {
    this.gc.advance(ts);
  }

  private gcSafePointAgeSeconds(time: TimeProvider): number | undefined {
    return this.gc.value === 0n ? undefined : (time.now() - physicalOf(this.gc.value)) / 1000;
  }

  worker(regionId: RegionId): RegionWorker {
    return this.workers[regionIdToIndex(regionId, this.workers.length)]!;
  }

  async submitToWorker(regionId: RegionId, request: WorkerRequest): Promise<void> {
    await this.worker(regionId).submit(request);
  }

  isRegionExists(regionId: RegionId): boolean {
    return this.worker(regionId).regions.has(regionId);
  }

  isRegionOpening(regionId: RegionId): boolean {
    return this.worker(regionId).openingRegions.has(regionId.value);
  }

  getRegion(regionId: RegionId): WorkerRegion | undefined {
    return this.worker(regionId).regions.get(regionId);
  }

  /** Regions being opened (replaying their WAL) right now. */
  openingRegionIds(): RegionId[] {
    return this.workers.flatMap((worker) =>
      [...worker.openingRegions.keys()].map((value) => RegionId.fromBigInt(value)),
    );
  }

  /** Every open region of the node. */
  regions(): WorkerRegion[] {
    return this.workers.flatMap((worker) => worker.regions.list());
  }

  /** The regions this node follows (they tail their leaders' WALs). */
  followers(): WorkerRegion[] {
    return this.regions().filter((r) => r.role === 'Follower');
  }

  /** Submits a write; resolves once it is in the WAL and the engine. */
  /** The region's committed flush manifest: what an open anywhere loads (see committedManifest). */
  async committedManifest(regionId: RegionId): Promise<FlushManifest | undefined> {
    return (await committedManifest(this.ctx, regionId))?.manifest;
  }

  async write(request: WriteRequest): Promise<WriteResult> {
    const reply = new Reply<WriteResult>();
    await this.submitToWorker(request.regionId, { kind: 'write', request, reply });
    return reply.promise;
  }

  async ddl(regionId: RegionId, request: DdlRequest): Promise<DdlResult> {
    if (request.type === 'open') await this.makeRoomFor(regionId, request);
    const reply = new Reply<DdlResult>();
    await this.submitToWorker(regionId, { kind: 'ddl', regionId, request, reply });
    return reply.promise;
  }

  /**
   * Splits a leading region at `splitKey` (see handleSplit), then opens the child here as leader from
   * the data already in place and gives both a manifest at their new epoch and range before any route
   * names the child or the narrower parent (a failover elsewhere then loads exactly its range). Every
   * step may run again: a retried split picks up where the last one stopped. Resolves with the
   * parent's last entry.
   */
  async splitRegion(
    regionId: RegionId,
    request: Omit<Extract<DdlRequest, { type: 'split' }>, 'type'>,
  ): Promise<DdlResult> {
    const { lastEntryId: splitEntryId } = await this.ddl(regionId, { type: 'split', ...request });
    try {
      const child = await this.openSplitChild(regionId, request.child);
      await failpoint('region_split_before_flush');
      // The child first: a parent manifest at the new epoch must never exist without the child's, or a
      // split whose leader died in between could be neither finished nor undone (the routes keep the
      // whole parent at the old epoch, and its open refuses the newer manifest). Where it can, the
      // child's manifest is copies of the files of the parent's flush for the split, written from
      // inside that flush before the parent's manifest: neither half writes its data again before the
      // routes name it (the parent's delta of its WAL past the split is the only new file). A retried
      // split may find the child's manifest written already.
      let flushed: DdlResult | undefined;
      if (!(await latestManifest(this.ctx.storage, child.regionId))) {
        flushed = await this.flushSharedWithChild(regionId, child, splitEntryId);
        if (!flushed) {
          this.ctx.logger.info(
            { regionId: child.regionId.toString(), parent: regionId.toString() },
            'split child flushed whole: its parent has no flush it can copy',
          );
          await this.ddl(child.regionId, { type: 'flush', full: true });
        }
      }
      const parent = this.getRegion(regionId);
      if (parent?.splitChildPending?.equals(child.regionId)) parent.splitChildPending = undefined;
      return flushed ?? (await this.ddl(regionId, { type: 'flush', incremental: true }));
    } finally {
      const parent = this.getRegion(regionId);
      if (parent) parent.flushesHeldUntilMs = 0;
    }
  }

  /**
   * The parent's flush for the split, whose files the child's manifest copies before the parent's is
   * written (see inheritFlushHook); undefined when they cannot serve the child.
   */
  private async flushSharedWithChild(
    regionId: RegionId,
    child: WorkerRegion,
    splitEntryId: number,
  ): Promise<DdlResult | undefined> {
    const base = await inheritableFlush(this.ctx, regionId, child, splitEntryId);
    if (!base) return undefined;
    const beforeManifest = inheritFlushHook(this.ctx, regionId, base, child);
    try {
      return await this.ddl(regionId, { type: 'flush', incremental: true, beforeManifest });
    } catch (err) {
      if (err instanceof NoFlushToInherit) return undefined;
      throw err;
    }
  }

  /**
   * Before `regionId` opens here: another region open here over part of its range can only be one
   * whose split was abandoned while this node seemed dead (the child, its WAL retired) or a stale copy
   * about to be replaced or closed. A retired one is closed for good first, or its background work
   * (MVCC GC) would run over the opening region's data; any other refuses an open to lead (a repair
   * asks again once the stale copy is gone).
   */
  private async makeRoomFor(
    regionId: RegionId,
    request: Extract<DdlRequest, { type: 'open' }>,
  ): Promise<void> {
    for (const other of this.regions()) {
      if (other.regionId.equals(regionId) || !rangesOverlap(other.range, request.range)) continue;
      const id = other.regionId.toString();
      if (!(await this.ctx.wal.position(other.regionId)).retired) {
        if (request.role !== 'Leader') continue;
        throw new EpochNotMatchError(
          `region ${regionId.toString()} cannot open over region ${id}, open here over part of its range`,
          { regionId: regionId.toString(), overlaps: id },
        );
      }
      this.ctx.logger.warn(
        { regionId: id, opening: regionId.toString() },
        'closing a retired region in the way',
      );
      await this.ddl(other.regionId, { type: 'close', destroy: true });
    }
  }

  /** The split's child open here as leader, from the local state the split wrote. */
  private async openSplitChild(regionId: RegionId, childId: RegionId): Promise<WorkerRegion> {
    if (!this.getRegion(childId)) {
      // Its range and epoch are what the split wrote (the parent's end may have been another's since).
      const local = await readRegionLocalState(this.ctx.engine, childId);
      if (local?.state !== 'Normal') {
        throw new NotFoundError(
          `region ${childId.toString()}, split from ${regionId.toString()}, has no local state here`,
          { regionId: childId.toString() },
        );
      }
      await this.ddl(childId, { type: 'open', range: local.range, epoch: local.epoch, role: 'Leader' });
    }
    return this.getRegion(childId)!;
  }

  /**
   * Merges the adjacent `source` into `target`, both leading here (PD's merge, with the data in
   * place): the source stops taking writes, the target takes over its range at `epoch` (see
   * handleMerge), the source closes without deleting anything, and the target is flushed whole, so its
   * manifest holds both ranges before any route does. Every step may run again. Resolves with the
   * target's last entry.
   */
  async mergeRegions(
    target: RegionId,
    request: Omit<Extract<DdlRequest, { type: 'merge' }>, 'type'>,
  ): Promise<DdlResult> {
    const merged = this.getRegion(target);
    const asked = [
      [target, request.epoch],
      [request.source, request.sourceEpoch],
    ] as const;
    const placedHere = (id: RegionId) => this.getRegion(id)?.epoch.confVer;
    for (const [id, epoch] of asked) {
      const placed = placedHere(id);
      if (placed !== undefined) checkAskedPlacement(id, placed, epoch, 'merge', false);
    }
    if (!merged || !mergeDone(merged, { type: 'merge', ...request })) {
      // The source must not stop taking writes for a merge asked before either was placed again.
      for (const [id, epoch] of asked) checkAskedPlacement(id, placedHere(id) ?? 0, epoch, 'merge', true);
      await this.ddl(request.source, { type: 'prepareMerge' });
      const sourceMaxTs = this.getRegion(request.source)?.maxTs;
      await this.ddl(target, {
        type: 'merge',
        ...request,
        ...(sourceMaxTs === undefined ? {} : { sourceMaxTs }),
      });
    }
    if (this.getRegion(request.source)) await this.ddl(request.source, { type: 'close' });
    return this.ddl(target, { type: 'flush', full: true });
  }

  /** Leader → follower or downgrading leader; resolves with the last WAL entry it wrote. */
  async setRoleStateGracefully(
    regionId: RegionId,
    role: 'Follower' | 'DowngradingLeader',
  ): Promise<{ lastEntryId: number }> {
    const reply = new Reply<{ lastEntryId: number }>();
    await this.submitToWorker(regionId, { kind: 'setRoleStateGracefully', regionId, role, reply });
    return reply.promise;
  }
}

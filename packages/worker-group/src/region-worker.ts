import {
  Channel,
  RegionNotFoundError,
  WorkerStoppedError,
  type KeyRange,
  type RegionId,
} from '@regionstore/core';
import { fenceEpochOf } from '@regionstore/engine';
import type { WorkerContext } from './context';
import { gcDue } from './gc-safe-point';
import { dropRegion, handleClose } from './handle-drop';
import {
  handleBackgroundNotify,
  scheduleCompaction,
  scheduleFlush,
  type FlushWorkerState,
} from './handle-flush';
import { handleCatchup, handleCreate, handleOpen } from './handle-open';
import { handleMerge, prepareMerge } from './handle-merge';
import { handleSplit } from './handle-split';
import { truncateRegion } from './handle-truncate';
import { applyFollowerTail } from './follower-apply';
import { RegionMap, type WorkerRegion } from './region';
import type { RegionOwner } from './region-owner';
import type { Reply } from './reply';
import type { WorkerRequest } from './requests';
import { changeRole } from './replay';
import { StalledRequests, type StalledWrite } from './stalled-requests';
import { handleWrites } from './write-handler';

type DdlItem = Extract<WorkerRequest, { kind: 'ddl' }>;

/**
 * One worker of the group: a bounded request channel and a loop that owns the worker's regions, so
 * requests to one region never run concurrently. The loop wakes on a request, on a group-wide
 * flush-finished notification, or on its periodic timer; it takes up to `workerRequestBatchSize`
 * requests and handles writes first, then DDL, then the rest.
 */
export class RegionWorker implements RegionOwner, FlushWorkerState {
  readonly regions = new RegionMap();
  readonly openingRegions = new Map<bigint, KeyRange>();
  readonly stalled = new StalledRequests();
  private readonly channel: Channel<WorkerRequest>;
  private running = true;
  private loopDone: Promise<void> | undefined;
  private seenFlushVersion: number;
  private lastCheckMs: number;
  /** Ends the loop's wait for work; set only while it waits. */
  private wake: (() => void) | undefined;
  /** A flush-finished notification came (from any worker) since the loop last looked. */
  private flushSignalled = false;
  /** The periodic check is due. */
  private checkDue = false;
  /** Leaders publish their resolved ts (see `publishResolvedTs`). */
  private resolveDue = false;
  private resolveTimer: NodeJS.Timeout | undefined;
  /** The previous round of resolved-ts publishing, still on its way to Redis. */
  private resolving: Promise<void> | undefined;
  private checkTimer: AbortController | undefined;
  private readonly unsubscribe: () => void;

  constructor(
    readonly id: number,
    private readonly ctx: WorkerContext,
    initialCheckDelayMs: number,
  ) {
    this.channel = new Channel(ctx.config.workerChannelSize, `request channel of worker ${id}`);
    this.seenFlushVersion = ctx.flushNotifier.version;
    // The first periodic check comes after a random delay, so workers do not all check at once.
    this.lastCheckMs = ctx.time.now() + initialCheckDelayMs;
    this.unsubscribe = ctx.flushNotifier.subscribe(() => {
      this.flushSignalled = true;
      this.wake?.();
    });
  }

  get isRunning(): boolean {
    return this.running;
  }

  start(): void {
    this.loopDone ??= this.run().catch((err: unknown) => {
      this.ctx.logger.error({ worker: this.id, err }, 'region worker loop failed');
      this.running = false;
    });
  }

  async submit(request: WorkerRequest): Promise<void> {
    if (!this.running) throw new WorkerStoppedError(`worker ${this.id} is stopped`, { worker: this.id });
    await this.channel.send(request);
  }

  /** Stops the loop after the batch it is in; it then closes its regions. */
  async stop(): Promise<void> {
    if (!this.running) return this.loopDone;
    this.running = false;
    await this.channel.send({ kind: 'stop' }).catch(() => undefined);
    this.channel.close();
    await this.loopDone;
  }

  /**
   * The loop. A busy worker goes from batch to batch without waiting or allocating; an idle one waits
   * for a request, a flush-finished notification or its periodic check, whichever comes first. Those
   * two signal through callbacks (not promises raced in every wait), so waiting leaves nothing behind.
   */
  private async run(): Promise<void> {
    const { config, flushNotifier } = this.ctx;
    this.armCheckTimer();
    if (config.resolvedTsIntervalMs > 0) {
      this.resolveTimer = setInterval(() => {
        this.resolveDue = true;
        this.wake?.();
      }, config.resolvedTsIntervalMs);
      this.resolveTimer.unref();
    }
    while (this.running) {
      if (this.channel.size === 0 && !this.flushSignalled && !this.checkDue && !this.resolveDue) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          void this.channel.readable().then(resolve);
        });
        this.wake = undefined;
      }
      if (this.flushSignalled) {
        this.flushSignalled = false;
        if (flushNotifier.version !== this.seenFlushVersion) {
          // Another worker's flush may have freed the buffer; this worker may also hold large regions.
          this.seenFlushVersion = flushNotifier.version;
          this.maybeFlushWorker();
          await this.handleStalledRequests();
        }
      }
      if (this.resolveDue) {
        this.resolveDue = false;
        this.publishResolvedTs();
      }
      if (this.checkDue) {
        this.checkDue = false;
        // A timer may fire a hair early; then it waits again for the rest.
        if (!this.handlePeriodicalTasks()) this.armCheckTimer();
      }
      const batch: WorkerRequest[] = [];
      for (
        let item = this.channel.tryRecv();
        item;
        item = batch.length < config.workerRequestBatchSize ? this.channel.tryRecv() : undefined
      ) {
        batch.push(item);
      }
      if (batch.length === 0) {
        if (this.channel.isClosed) break;
        continue;
      }
      await this.handleRequests(batch);
      this.handlePeriodicalTasks();
    }
    this.checkTimer?.abort();
    clearInterval(this.resolveTimer);
    this.unsubscribe();
    await this.resolving;
    await this.clean();
  }

  /** Arms the one timer of the periodic check, for `checkRegionIntervalMs` after the last check. */
  private armCheckTimer(): void {
    const { config, time } = this.ctx;
    this.checkTimer?.abort();
    const timer = new AbortController();
    this.checkTimer = timer;
    const waitMs = Math.max(0, this.lastCheckMs + config.checkRegionIntervalMs - time.now());
    time.sleep(waitMs, timer.signal).then(
      () => {
        this.checkDue = true;
        this.wake?.();
      },
      () => undefined, // re-armed or stopped
    );
  }

  private async handleRequests(batch: WorkerRequest[]): Promise<void> {
    const writes: StalledWrite[] = [];
    const ddl: DdlItem[] = [];
    const rest: WorkerRequest[] = [];
    for (const request of batch) {
      if (request.kind === 'write') writes.push(request);
      else if (request.kind === 'ddl') ddl.push(request);
      else rest.push(request);
    }
    // Writes first, so DDL in the same batch (alter, close, drop) never races a write, and a graceful
    // downgrade counts every write that reached the worker before it.
    await handleWrites(this.ctx, this, writes, true);
    for (const item of ddl) {
      try {
        await this.handleDdl(item);
      } catch (err) {
        item.reply.fail(err);
      }
    }
    for (const request of rest) {
      if (request.kind === 'background')
        await handleBackgroundNotify(this.ctx, this, request.region, request.notify);
      else if (request.kind === 'setRoleStateGracefully') {
        this.setRoleStateGracefully(request.regionId, request.role, request.reply);
      } else if (request.kind === 'followerTail') {
        const region = this.regions.get(request.regionId);
        try {
          if (region) await applyFollowerTail(this.ctx, region, request.entries, request.position);
          request.reply.send();
        } catch (err) {
          request.reply.fail(err);
        }
      }
    }
  }

  // --- regions -----------------------------------------------------------------------------------

  requireRegion(regionId: RegionId): WorkerRegion {
    const region = this.regions.get(regionId);
    if (!region) {
      throw new RegionNotFoundError(`region ${regionId.toString()} is not open on node ${this.ctx.nodeId}`, {
        regionId: regionId.toString(),
      });
    }
    return region;
  }

  addRegion(region: WorkerRegion): void {
    this.regions.set(region);
    this.ctx.metrics.regionCount.set({ worker: String(this.id) }, this.regions.size);
  }

  removeRegion(region: WorkerRegion, reason?: Error): void {
    this.regions.delete(region.regionId);
    region.closed = true;
    region.flushAbort?.abort();
    if (region.isWritable) this.ctx.writeBuffer.free(region.writtenBytes);
    this.ctx.metrics.regionCount.set({ worker: String(this.id) }, this.regions.size);
    const closed =
      reason ??
      new RegionNotFoundError(`region ${region.regionId.toString()} was closed`, {
        regionId: region.regionId.toString(),
      });
    for (const write of this.stalled.remove(region.regionId)) write.reply.fail(closed);
    // A running flush or compaction may still end, but it no longer answers anyone (see handleBackgroundNotify).
    const waiters = [region.flushWaiters, region.nextFlushWaiters, region.compactWaiters];
    for (const waiter of waiters.flatMap((list) => list.splice(0))) waiter.fail(closed);
    region.manifestHooks.length = 0;
    region.nextManifestHooks.length = 0;
  }

  closeRegion(region: WorkerRegion, reason: Error): void {
    this.ctx.logger.error(
      { regionId: region.regionId.toString(), err: reason },
      'closing region after a failed write',
    );
    this.removeRegion(region);
  }

  /** One DDL request, by kind (handlers in handle-*.ts). */
  private async handleDdl({ regionId, request, reply }: DdlItem): Promise<void> {
    const ctx = this.ctx;
    switch (request.type) {
      case 'create':
        return reply.send(await handleCreate(ctx, this, regionId, request));
      case 'open':
        return reply.send(await handleOpen(ctx, this, regionId, request));
      case 'catchup':
        return reply.send(await handleCatchup(ctx, this, regionId, request));
      case 'split':
        return reply.send(await handleSplit(ctx, this, regionId, request));
      case 'prepareMerge':
        return reply.send(await prepareMerge(ctx, this.requireRegion(regionId)));
      case 'merge':
        return reply.send(await handleMerge(ctx, this, regionId, request));
      case 'close':
        return reply.send(await handleClose(ctx, this, regionId, request));
      case 'drop':
        return reply.send(await dropRegion(ctx, this, this.requireRegion(regionId)));
      case 'truncate':
        return reply.send(await truncateRegion(ctx, this.requireRegion(regionId)));
      case 'alter': {
        const region = this.requireRegion(regionId);
        region.options = { ...region.options, ...request.options };
        return reply.send({ lastEntryId: region.lastEntryId });
      }
      case 'flush': {
        const region = this.requireRegion(regionId);
        if (request.full) region.fullFlushWanted = true;
        if (request.incremental) region.incrementalFlushWanted = true;
        (region.flushing ? region.nextFlushWaiters : region.flushWaiters).push(reply);
        if (request.beforeManifest)
          (region.flushing ? region.nextManifestHooks : region.manifestHooks).push(request.beforeManifest);
        scheduleFlush(ctx, region);
        return;
      }
      case 'compact':
        return scheduleCompaction(ctx, this.requireRegion(regionId), reply);
    }
  }

  private setRoleStateGracefully(
    regionId: RegionId,
    role: 'Follower' | 'DowngradingLeader',
    reply: Reply<{ lastEntryId: number }>,
  ): void {
    const region = this.regions.get(regionId);
    if (!region) {
      reply.fail(
        new RegionNotFoundError(`region ${regionId.toString()} is not open on node ${this.ctx.nodeId}`),
      );
      return;
    }
    // Writes of this batch ran already; none after this one is accepted, so the entry id is final.
    changeRole(this.ctx, region, role);
    reply.send({ lastEntryId: region.lastEntryId });
  }

  /**
   * Every leader region promises its followers a ts nothing more will commit at or below (TiKV's
   * resolved ts). Taken here, between write batches: each write of this worker that got a lower ts
   * is in the WAL by now, and every later one gets a higher ts from the node's allocator. Sent in
   * the background, one round at a time; an append whose outcome is unknown skips its region.
   */
  private publishResolvedTs(): void {
    if (this.resolving) return;
    const leaders = this.regions.list().filter((r) => r.isWritable && !r.walUncertain);
    if (leaders.length === 0) return;
    const ts = this.ctx.concurrency.timestamps.next();
    this.resolving = Promise.all(
      leaders.map((region) =>
        this.ctx.wal
          .publishResolvedTs(region.regionId, ts, {
            nodeId: this.ctx.nodeId,
            epoch: fenceEpochOf(region.epoch),
          })
          .catch((err: unknown) =>
            this.ctx.logger.debug({ regionId: region.regionId.toString(), err }, 'resolved ts not published'),
          ),
      ),
    ).then(() => {
      this.resolving = undefined;
    });
  }

  /** Tells every worker a flush finished; this worker has handled it already. */
  notifyGroup(): void {
    this.ctx.flushNotifier.notify();
    this.seenFlushVersion = this.ctx.flushNotifier.version;
  }

  /**
   * While the node is over its write buffer, flush this worker's largest region not yet flushing.
   * `askGroup`: when this worker has nothing to flush, wake the others so one of them flushes (a
   * worker whose writes stall must not wait on workers that never hear of it).
   */
  maybeFlushWorker(askGroup = false): void {
    if (!this.ctx.writeBuffer.shouldFlushEngine()) return;
    const regions = this.regions.list();
    const now = this.ctx.time.now();
    const candidates = regions.filter((r) => r.mayFlushUnasked(now) && r.writtenBytes > 0);
    candidates.sort((a, b) => b.writtenBytes - a.writtenBytes);
    const largest = candidates[0];
    if (largest) scheduleFlush(this.ctx, largest);
    else if (askGroup && !regions.some((r) => r.flushing)) this.notifyGroup();
  }

  /** Flushes a region whose unflushed WAL has grown past its share (see `WorkerRegion.flushDue`). */
  maybeFlushRegion(region: WorkerRegion): void {
    if (region.mayFlushUnasked(this.ctx.time.now()) && region.flushDue(this.ctx.config.regionWriteBufferSize))
      scheduleFlush(this.ctx, region);
  }

  async handleStalledRequests(): Promise<void> {
    const writes = this.stalled.takeAll();
    this.ctx.metrics.stalledRequests.set({ worker: String(this.id) }, 0);
    await handleWrites(this.ctx, this, writes, true);
  }

  /** Runs the periodic check if it is due; returns whether it ran. */
  private handlePeriodicalTasks(): boolean {
    const now = this.ctx.time.now();
    if (now - this.lastCheckMs < this.ctx.config.checkRegionIntervalMs) return false;
    this.lastCheckMs = now;
    this.armCheckTimer();
    for (const region of this.regions.list()) {
      const interval = region.options.autoFlushIntervalMs ?? this.ctx.config.autoFlushIntervalMs;
      if (region.writtenBytes > 0 && region.mayFlushUnasked(now) && now - region.lastFlushMs >= interval) {
        scheduleFlush(this.ctx, region);
      }
      if (gcDue(region, this.ctx.gcSafePoint.value)) scheduleCompaction(this.ctx, region);
      region.recentWrites.expire(now); // an idle region's too
    }
    // Those of a split or merge that never finished here: nobody takes them once they hold nothing.
    for (const [id, writes] of this.ctx.inheritedWrites) {
      writes.expire(now);
      if (writes.size === 0) this.ctx.inheritedWrites.delete(id);
    }
    return true;
  }

  /** On stop: answer what is still queued or stalled, and close every region. */
  private async clean(): Promise<void> {
    const stopped = new WorkerStoppedError(`worker ${this.id} is stopped`, { worker: this.id });
    for (const request of this.channel.drain()) {
      if ('reply' in request) request.reply.fail(stopped);
    }
    for (const write of this.stalled.takeAll()) write.reply.fail(stopped);
    for (const region of this.regions.list()) this.removeRegion(region, stopped);
  }
}

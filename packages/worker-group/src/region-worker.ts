import { Readable } from 'node:stream';
import {
  Channel,
  InvalidArgumentError,
  RegionNotFoundError,
  WorkerStoppedError,
  type RegionId,
} from '@regionstore/core';
import {
  CF_RAFT,
  WriteBatch,
  dropLatestDeletes,
  readRegionLocalState,
  regionStateKey,
  writeRegionLocalState,
} from '@regionstore/engine';
import { RegionTask } from '@regionstore/region-runner';
import { compactRegion, flushRegion, schedulePurge } from './background-jobs';
import type { WorkerContext } from './context';
import { writeManifest } from './manifest';
import {
  checkNotTombstoned,
  clearRegionData,
  recoverRegion,
  tombstoneRegion,
  type RecoveredRegion,
} from './recover';
import { RegionMap, WorkerRegion, fenceEpochOf } from './region';
import { addUnflushed, catchUpWithWal } from './replay';
import type { Reply } from './reply';
import type { BackgroundNotify, DdlRequest, DdlResult, WorkerRequest } from './requests';
import { StalledRequests, type StalledWrite } from './stalled-requests';
import { handleWrites } from './write-handler';

type DdlItem = Extract<WorkerRequest, { kind: 'ddl' }>;

/**
 * One worker of the group: a bounded request channel and a loop that owns the worker's regions, so
 * requests to one region never run concurrently. The loop wakes on a request, on a group-wide
 * flush-finished notification, or on its periodic timer; it takes up to `workerRequestBatchSize`
 * requests and handles writes first, then DDL, then the rest.
 */
export class RegionWorker {
  readonly regions = new RegionMap();
  readonly openingRegions = new Set<bigint>();
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
    while (this.running) {
      if (this.channel.size === 0 && !this.flushSignalled && !this.checkDue) {
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
    this.unsubscribe();
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
      if (request.kind === 'background') await this.handleBackgroundNotify(request.regionId, request.notify);
      else if (request.kind === 'setRoleStateGracefully') {
        this.setRoleStateGracefully(request.regionId, request.role, request.reply);
      }
    }
  }

  // --- DDL ---------------------------------------------------------------------------------------

  private requireRegion(regionId: RegionId): WorkerRegion {
    const region = this.regions.get(regionId);
    if (!region) {
      throw new RegionNotFoundError(`region ${regionId.toString()} is not open on node ${this.ctx.nodeId}`, {
        regionId: regionId.toString(),
      });
    }
    return region;
  }

  private addRegion(region: WorkerRegion): void {
    this.regions.set(region);
    this.ctx.metrics.regionCount.set({ worker: String(this.id) }, this.regions.size);
  }

  private removeRegion(region: WorkerRegion): void {
    this.regions.delete(region.regionId);
    this.ctx.writeBuffer.free(region.writtenBytes);
    this.ctx.metrics.regionCount.set({ worker: String(this.id) }, this.regions.size);
    for (const write of this.stalled.remove(region.regionId)) {
      write.reply.fail(new RegionNotFoundError(`region ${region.regionId.toString()} was closed`));
    }
  }

  closeRegion(region: WorkerRegion, reason: Error): void {
    this.ctx.logger.error(
      { region: region.regionId.toString(), err: reason },
      'closing region after a failed write',
    );
    this.removeRegion(region);
  }

  private async handleDdl({ regionId, request, reply }: DdlItem): Promise<void> {
    const ctx = this.ctx;
    switch (request.type) {
      case 'create': {
        if (this.regions.has(regionId))
          return reply.send({ lastEntryId: this.requireRegion(regionId).lastEntryId });
        if ((await ctx.wal.lastEntryId(regionId)) > 0) {
          throw new InvalidArgumentError(`region ${regionId.toString()} already has a WAL; open it instead`);
        }
        await ctx.wal.setFence(regionId, { nodeId: ctx.nodeId, epoch: fenceEpochOf(request.epoch) });
        await clearRegionData(ctx, request.range);
        const recovered = await recoverRegion(ctx, regionId, request.range, request.epoch);
        this.addRegion(this.newRegion(regionId, request, 'Leader', recovered));
        return reply.send({ lastEntryId: recovered.lastEntryId });
      }
      case 'open': {
        const existing = this.regions.get(regionId);
        if (existing) {
          if (request.role === 'Leader' && existing.role !== 'Leader')
            await this.becomeLeader(existing, request.epoch);
          return reply.send({ lastEntryId: existing.lastEntryId });
        }
        this.openingRegions.add(regionId.value);
        try {
          await checkNotTombstoned(ctx, regionId, request.epoch);
          if (request.role === 'Leader') {
            await ctx.wal.setFence(regionId, { nodeId: ctx.nodeId, epoch: fenceEpochOf(request.epoch) });
          }
          const recovered = await recoverRegion(ctx, regionId, request.range, request.epoch);
          this.addRegion(this.newRegion(regionId, request, request.role, recovered));
          return reply.send({ lastEntryId: recovered.lastEntryId });
        } finally {
          this.openingRegions.delete(regionId.value);
        }
      }
      case 'close': {
        const region = this.regions.get(regionId);
        if (region) this.removeRegion(region);
        if (request.destroy) {
          // Also when the region is not open here (the node restarted since): its local state stays.
          const local = region ? undefined : await readRegionLocalState(ctx.engine, regionId);
          const left = region ?? (local?.state === 'Tombstone' ? undefined : local);
          if (left) {
            const newer = request.epoch && request.epoch.confVer > left.epoch.confVer;
            await tombstoneRegion(ctx, regionId, left.range, newer ? request.epoch! : left.epoch);
          }
        }
        return reply.send({ lastEntryId: region?.lastEntryId ?? 0 });
      }
      case 'drop':
        return reply.send(await this.dropRegion(this.requireRegion(regionId)));
      case 'alter': {
        const region = this.requireRegion(regionId);
        region.options = { ...region.options, ...request.options };
        return reply.send({ lastEntryId: region.lastEntryId });
      }
      case 'flush': {
        const region = this.requireRegion(regionId);
        region.flushWaiters.push(reply);
        this.scheduleFlush(region);
        return;
      }
      case 'compact':
        return this.scheduleCompaction(this.requireRegion(regionId), reply);
      case 'truncate':
        return reply.send(await this.truncateRegion(this.requireRegion(regionId)));
      case 'catchup': {
        const region = this.requireRegion(regionId);
        if (region.role === 'Leader') {
          throw new InvalidArgumentError(
            `region ${regionId.toString()} leads here; catchup is for followers`,
          );
        }
        const recovered = await recoverRegion(
          ctx,
          regionId,
          region.range,
          request.epoch ?? region.epoch,
          request.entryId,
        );
        region.lastEntryId = recovered.lastEntryId;
        addUnflushed(ctx, region, recovered.replayedBytes);
        if (request.writable) await this.becomeLeader(region, request.epoch ?? region.epoch);
        return reply.send({ lastEntryId: region.lastEntryId });
      }
    }
  }

  private newRegion(
    regionId: RegionId,
    request: Extract<DdlRequest, { type: 'create' | 'open' }>,
    role: 'Leader' | 'Follower',
    recovered: RecoveredRegion,
  ): WorkerRegion {
    const region = new WorkerRegion(
      regionId,
      request.range,
      request.epoch,
      role,
      request.options ?? {},
      recovered.lastEntryId,
      recovered.flushedEntryId,
      this.ctx.time.now(),
    );
    region.snapshotBytes = recovered.snapshotBytes;
    addUnflushed(this.ctx, region, recovered.replayedBytes);
    return region;
  }

  /** Takes the WAL fence, then replays what was appended before it, then takes writes. */
  private async becomeLeader(region: WorkerRegion, epoch: WorkerRegion['epoch']): Promise<void> {
    await this.ctx.wal.setFence(region.regionId, { nodeId: this.ctx.nodeId, epoch: fenceEpochOf(epoch) });
    const recovered = await recoverRegion(this.ctx, region.regionId, region.range, epoch);
    region.epoch = epoch;
    region.lastEntryId = recovered.lastEntryId;
    addUnflushed(this.ctx, region, recovered.replayedBytes);
    region.role = 'Leader';
  }

  private async dropRegion(region: WorkerRegion): Promise<DdlResult> {
    const { regionId } = region;
    const marker = `regions/${regionId.value}/.dropping`;
    // The marker lets a restarted node finish a drop it was in the middle of.
    await this.ctx.storage.write(marker, Readable.from([Buffer.from(String(this.ctx.time.now()))]));
    const batch = new WriteBatch();
    writeRegionLocalState(batch, { regionId, state: 'Tombstone', range: region.range, epoch: region.epoch });
    await this.ctx.engine.write(batch);
    this.removeRegion(region);
    await this.ctx.wal.destroy(regionId);
    // Data goes later, once no snapshot reads it.
    void this.ctx.runner
      .schedule(RegionTask.destroy(regionId, region.range.start, region.range.end))
      .catch((err: unknown) =>
        this.ctx.logger.warn({ region: regionId.toString(), err }, 'destroy of dropped region failed'),
      );
    void this.ctx.purgeScheduler
      .schedule(async () => {
        for await (const object of this.ctx.storage.list(`snapshots/${regionId.value}/`))
          await this.ctx.storage.delete(object.name);
        for await (const object of this.ctx.storage.list(`manifests/${regionId.value}/`))
          await this.ctx.storage.delete(object.name);
        await this.ctx.engine.delete(CF_RAFT, regionStateKey(regionId));
        await this.ctx.storage.delete(marker);
      })
      .catch((err: unknown) =>
        this.ctx.logger.warn({ region: regionId.toString(), err }, 'purge of dropped region failed'),
      );
    return { lastEntryId: region.lastEntryId };
  }

  private async truncateRegion(region: WorkerRegion): Promise<DdlResult> {
    // Entries an uncertain append left past `last` would otherwise come back on the next open.
    if (region.walUncertain) await catchUpWithWal(this.ctx, region);
    const last = region.lastEntryId;
    // A manifest without snapshot first: an open anywhere now starts empty at `last`.
    await writeManifest(this.ctx.storage, {
      version: 1,
      regionId: region.regionId.toString(),
      walEntryId: last,
      term: fenceEpochOf(region.epoch),
      snapshot: null,
      sha256: null,
      size: 0,
      kvCount: 0,
      epoch: { ...region.epoch },
      createdAtMs: this.ctx.time.now(),
    });
    await clearRegionData(this.ctx, region.range);
    await this.ctx.wal.obsolete(region.regionId, last);
    this.ctx.writeBuffer.free(region.writtenBytes);
    region.writtenBytes = 0;
    region.flushedEntryId = last;
    schedulePurge(this.ctx, region.regionId, 1);
    return { lastEntryId: last };
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
    region.role = role;
    reply.send({ lastEntryId: region.lastEntryId });
  }

  // --- flush, compaction, stalls -----------------------------------------------------------------

  private scheduleFlush(region: WorkerRegion): void {
    if (region.flushing) return; // its waiters are answered when the running flush ends
    region.flushing = true;
    region.flushingBytes = region.writtenBytes;
    const stop = this.ctx.metrics.jobDuration.startTimer({ job: 'flush' });
    this.ctx.flushScheduler
      .schedule(() => flushRegion(this.ctx, region))
      .then(
        (manifest) => {
          stop({ outcome: 'success' });
          this.ctx.notifyWorker(region.regionId, {
            type: 'flushFinished',
            walEntryId: manifest.walEntryId,
            flushedBytes: region.flushingBytes,
            snapshotBytes: manifest.size,
          });
        },
        (err: unknown) => {
          stop({ outcome: 'fail' });
          this.ctx.notifyWorker(region.regionId, { type: 'flushFailed', error: err as Error });
        },
      );
  }

  private scheduleCompaction(region: WorkerRegion, reply: Reply<DdlResult>): void {
    region.compactWaiters.push(reply);
    if (region.compactWaiters.length > 1) return;
    const stop = this.ctx.metrics.jobDuration.startTimer({ job: 'compaction' });
    this.ctx.compactionScheduler
      .schedule(() => compactRegion(this.ctx, region))
      .then(
        (gc) => {
          stop({ outcome: 'success' });
          this.ctx.notifyWorker(region.regionId, { type: 'compactionFinished', gc });
        },
        (err: unknown) => {
          stop({ outcome: 'fail' });
          this.ctx.notifyWorker(region.regionId, { type: 'compactionFailed', error: err as Error });
        },
      );
  }

  private async handleBackgroundNotify(regionId: RegionId, notify: BackgroundNotify): Promise<void> {
    const region = this.regions.get(regionId);
    if (!region) return; // closed meanwhile
    switch (notify.type) {
      case 'flushFinished': {
        region.flushing = false;
        region.flushedEntryId = Math.max(region.flushedEntryId, notify.walEntryId);
        region.writtenBytes = Math.max(0, region.writtenBytes - notify.flushedBytes);
        region.snapshotBytes = notify.snapshotBytes;
        region.lastFlushMs = this.ctx.time.now();
        this.ctx.writeBuffer.free(notify.flushedBytes);
        this.ctx.metrics.writeBufferBytes.set(this.ctx.writeBuffer.memoryUsage);
        for (const waiter of region.flushWaiters.splice(0)) waiter.send({ lastEntryId: notify.walEntryId });
        this.notifyGroup();
        await this.handleStalledRequests();
        return;
      }
      case 'flushFailed': {
        region.flushing = false;
        for (const waiter of region.flushWaiters.splice(0)) waiter.fail(notify.error);
        // Writes stalled on this region would wait for a flush that is not coming.
        for (const write of this.stalled.remove(regionId)) write.reply.fail(notify.error);
        return;
      }
      case 'compactionFinished':
        // Here, between this region's write batches, no write can replace a delete in between.
        await dropLatestDeletes(this.ctx.engine, notify.gc.newestDeletes).catch((err: unknown) =>
          this.ctx.logger.warn({ region: regionId.toString(), err }, 'dropping collected deletes failed'),
        );
        for (const waiter of region.compactWaiters.splice(0))
          waiter.send({ lastEntryId: region.lastEntryId });
        return;
      case 'compactionFailed':
        for (const waiter of region.compactWaiters.splice(0)) waiter.fail(notify.error);
        return;
    }
  }

  /** Tells every worker a flush finished; this worker has handled it already. */
  private notifyGroup(): void {
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
    const candidates = regions.filter((r) => !r.flushing && r.writtenBytes > 0 && r.isWritable);
    candidates.sort((a, b) => b.writtenBytes - a.writtenBytes);
    const largest = candidates[0];
    if (largest) this.scheduleFlush(largest);
    else if (askGroup && !regions.some((r) => r.flushing)) this.notifyGroup();
  }

  /** Flushes a region whose unflushed WAL has grown past its share (see `WorkerRegion.flushDue`). */
  maybeFlushRegion(region: WorkerRegion): void {
    if (!region.flushing && region.isWritable && region.flushDue(this.ctx.config.regionWriteBufferSize))
      this.scheduleFlush(region);
  }

  private async handleStalledRequests(): Promise<void> {
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
      if (region.writtenBytes > 0 && region.isWritable && now - region.lastFlushMs >= interval) {
        this.scheduleFlush(region);
      }
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
    for (const region of this.regions.list()) {
      for (const waiter of [...region.flushWaiters.splice(0), ...region.compactWaiters.splice(0)])
        waiter.fail(stopped);
      this.removeRegion(region);
    }
  }
}

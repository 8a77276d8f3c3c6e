import { randomBytes } from 'node:crypto';
import {
  CancelledError,
  EpochNotMatchError,
  InvalidArgumentError,
  NotFoundError,
  NotLeaderError,
  RegionNotFoundError,
  ServerIsBusyError,
  failpoint,
  isRedisOutcomeUnknown,
  isRedisUnreachable,
  StorageError,
  isRegionStoreError,
  type RegionId,
} from '@regionstore/core';
import { counter, histogram, type RedisClient, type Registry } from '@regionstore/runtime';
import type { Redis } from 'ioredis';
import type {
  Fence,
  FlushCommit,
  FollowerPosition,
  LogStore,
  ReadOptions,
  TailCursor,
  TailOptions,
  WalEntry,
  WalPosition,
} from './log-store';
import { APPEND, COMMIT_FLUSH, FOLLOWER_APPLIED, RESOLVE, RESTORE, RETIRE, SET_FENCE } from './scripts';

export interface RedisLogStoreOptions {
  /** Key prefix shared with the cluster's other Redis data (tests use their own). */
  prefix: string;
  /**
   * Replicas that must have an append before it counts (Redis WAIT). 0 trusts the primary alone;
   * durability then rests on its AOF setting.
   */
  minReplicas?: number;
  /** How long WAIT may take before the append fails. */
  replicaTimeoutMs?: number;
  metrics?: Registry;
}

type Script = (...args: Array<string | Buffer | number>) => Promise<unknown>;

interface WalCommands {
  rsWalAppend: Script;
  rsWalSetFence: Script;
  rsWalCommitFlush: Script;
  rsWalRestore: Script;
  rsWalResolve: Script;
  rsWalFollowerApplied: Script;
  rsWalRetire: Script;
}

const DEFAULT_READ_BATCH = 512;
/** On Redis Cluster a multi-key XREAD cannot span slots: followers poll their regions this often. */
const CLUSTER_TAIL_POLL_MS = 50;
/**
 * A region's WAL stream, its metadata hash and the hash of where its followers stand. All carry the
 * region in a hash tag: they share one Redis Cluster slot (the scripts need them together), and regions
 * spread over the cluster's masters.
 */
export function walKeys(
  prefix: string,
  regionId: RegionId,
): { log: string; meta: string; followers: string } {
  const base = `${prefix}:wal:{${regionId.value}}`;
  return { log: `${base}:log`, meta: `${base}:meta`, followers: `${base}:followers` };
}

/** A stream row (`<id>-0`, ['d', data]) as a WAL entry. */
const toEntry = ([rawId, fields]: [Buffer, Buffer[]]): WalEntry => ({
  id: Number.parseInt(rawId.toString(), 10),
  data: fields[1]!,
});

const newIncarnation = () => randomBytes(9).toString('base64url');

/** Pauses before resending an append whose reply was lost (same token: Redis appends it at most once). */
const RESEND_DELAYS_MS = [50, 200, 500, 1000];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function checkEntryId(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`${name} must be a non-negative integer, got ${value}`, { [name]: value });
  }
}

function checkFence(fence: Fence): void {
  if (typeof fence.nodeId !== 'string' || fence.nodeId.length === 0 || /\s/.test(fence.nodeId)) {
    throw new InvalidArgumentError(`fence node id must be a non-empty word, got '${fence.nodeId}'`);
  }
  checkEntryId('epoch', fence.epoch);
}

/**
 * The WAL on Redis Streams: per region a stream `<prefix>:wal:{<region>}:log` and a hash
 * `<prefix>:wal:{<region>}:meta` (fence, last id, trim point, last batch token). An append is one Lua
 * call, so one round trip per worker batch, atomic, and fenced.
 */
export class RedisLogStore implements LogStore {
  private readonly commands: WalCommands;
  private readonly minReplicas: number;
  private readonly replicaTimeoutMs: number;
  private readonly metrics;
  /** The followers' one blocking connection (XREAD BLOCK would hold up every other command). */
  private tailConnection: RedisClient | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly options: RedisLogStoreOptions,
  ) {
    this.minReplicas = options.minReplicas ?? 0;
    this.replicaTimeoutMs = options.replicaTimeoutMs ?? 1000;
    redis.defineCommand('rsWalAppend', { numberOfKeys: 2, lua: APPEND });
    redis.defineCommand('rsWalSetFence', { numberOfKeys: 1, lua: SET_FENCE });
    redis.defineCommand('rsWalCommitFlush', { numberOfKeys: 3, lua: COMMIT_FLUSH });
    redis.defineCommand('rsWalFollowerApplied', { numberOfKeys: 2, lua: FOLLOWER_APPLIED });
    redis.defineCommand('rsWalRestore', { numberOfKeys: 2, lua: RESTORE });
    redis.defineCommand('rsWalResolve', { numberOfKeys: 1, lua: RESOLVE });
    redis.defineCommand('rsWalRetire', { numberOfKeys: 3, lua: RETIRE });
    this.commands = redis as unknown as WalCommands;
    this.metrics = options.metrics
      ? {
          appendSeconds: histogram(options.metrics, {
            component: 'log_store',
            what: 'append_duration',
            unit: 'seconds',
            help: 'Time of one fenced WAL append (one worker batch)',
            buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5],
          }),
          entries: counter(options.metrics, {
            component: 'log_store',
            what: 'appended_entries',
            unit: 'total',
            help: 'WAL entries appended',
          }),
        }
      : undefined;
  }

  get confirmsOnReplicas(): boolean {
    return this.minReplicas > 0;
  }

  keys(regionId: RegionId): { log: string; meta: string; followers: string } {
    return walKeys(this.options.prefix, regionId);
  }

  async append(regionId: RegionId, entries: Buffer[], fence: Fence): Promise<number> {
    checkFence(fence);
    const { log, meta } = this.keys(regionId);
    if (entries.length === 0) return this.lastEntryId(regionId);
    const stop = this.metrics?.appendSeconds.startTimer();
    const token = randomBytes(12).toString('base64');
    const args = [log, meta, fence.nodeId, String(fence.epoch), token, ...entries];
    let sent = false;
    for (let attempt = 0; ; attempt++) {
      try {
        const last = await this.appendOnce(regionId, args);
        stop?.();
        this.metrics?.entries.inc(entries.length);
        return last;
      } catch (err) {
        const typed = isRegionStoreError(err);
        const unknown = !typed && isRedisOutcomeUnknown(err);
        sent ||= unknown;
        // The batch token makes a resend safe: if the first try landed, Redis answers it again.
        const delay = unknown || (!typed && isRedisUnreachable(err)) ? RESEND_DELAYS_MS[attempt] : undefined;
        if (delay !== undefined) {
          await sleep(delay);
          continue;
        }
        // An earlier try may have landed, whatever this one says (a fence moved since: NotLeader; a
        // replica promoted meanwhile: READONLY): the outcome is unknown, never a plain failure.
        if (sent) throw this.outcomeUnknown(regionId, err);
        throw typed ? err : this.translate(err, regionId);
      }
    }
  }

  /** One fenced append (and, in `replicas` mode, its WAIT): one round trip. */
  private async appendOnce(regionId: RegionId, args: Array<string | Buffer>): Promise<number> {
    if (this.minReplicas === 0) {
      const last = Number(await this.commands.rsWalAppend(...args));
      // `return`: the append ran, then the connection dropped before the reply arrived.
      if (await failpoint('wal_append_connection_lost')) throw new Error('Connection is closed.');
      return last;
    }
    const replies = await this.redis
      .pipeline()
      .rsWalAppend(...args)
      .wait(this.minReplicas, this.replicaTimeoutMs)
      .exec();
    const [appendReply, waitReply] = replies ?? [];
    if (appendReply?.[0]) throw appendReply[0];
    if (waitReply?.[0]) throw waitReply[0];
    const replicas = Number(waitReply?.[1]);
    if (replicas < this.minReplicas) {
      // In the primary's WAL but not on enough replicas: not acknowledged, and not known to be lost.
      throw new ServerIsBusyError(
        `WAL append of region ${regionId.toString()} reached ${replicas} of ${this.minReplicas} replicas within ${this.replicaTimeoutMs} ms; it may or may not persist`,
        { regionId: regionId.toString(), replicas, minReplicas: this.minReplicas, outcome: 'unknown' },
      );
    }
    return Number(appendReply?.[1]);
  }

  private outcomeUnknown(regionId: RegionId, cause: unknown): ServerIsBusyError {
    return new ServerIsBusyError(
      `WAL append of region ${regionId.toString()} may have reached Redis (the connection dropped before the reply): ${(cause as Error).message}`,
      { regionId: regionId.toString(), outcome: 'unknown' },
      { cause },
    );
  }

  async *read(regionId: RegionId, fromId: number, options: ReadOptions = {}): AsyncIterable<WalEntry[]> {
    checkEntryId('fromId', fromId);
    const batchSize = options.batchSize ?? DEFAULT_READ_BATCH;
    const { log } = this.keys(regionId);
    let next = Math.max(fromId, 1);
    const trimmed = await this.trimmedEntryId(regionId);
    if (next <= trimmed) throw this.trimmedError(regionId, next, trimmed);
    const end = options.toId === undefined ? '+' : `${options.toId}-0`;
    if (options.toId !== undefined && options.toId < next) return;
    for (;;) {
      const rows = await this.redis.xrangeBuffer(log, `${next}-0`, end, 'COUNT', batchSize);
      if (rows.length === 0) {
        // Nothing from `next` on: the log ends there, or a trim meanwhile took the rest of what was asked.
        const trimmedNow = await this.trimmedEntryId(regionId);
        if (trimmedNow >= next) throw this.trimmedError(regionId, next, trimmedNow);
        return;
      }
      const batch: WalEntry[] = [];
      for (const row of rows) {
        const entry = toEntry(row);
        // A trim between two batches of this read would leave a hole; never hand out a log with holes.
        if (entry.id !== next) throw this.trimmedError(regionId, next, entry.id - 1);
        batch.push(entry);
        next++;
      }
      yield batch;
      if (rows.length < batchSize) return;
    }
  }

  async tail(cursors: TailCursor[], options: TailOptions): Promise<Map<bigint, WalEntry[]>> {
    const found = new Map<bigint, WalEntry[]>();
    if (cursors.length === 0) return found;
    for (const cursor of cursors) checkEntryId('afterId', cursor.afterId);
    const keyOf = new Map(cursors.map((c) => [this.keys(c.regionId).log, c.regionId.value]));
    if (this.redis.isCluster) {
      // One slot per region: a read each, in parallel on the cluster's connections, then a short pause.
      await Promise.all(
        cursors.map(async ({ regionId, afterId }) => {
          const rows = await this.redis.xrangeBuffer(
            this.keys(regionId).log,
            `(${afterId}-0`,
            '+',
            'COUNT',
            options.count,
          );
          if (rows.length > 0) found.set(regionId.value, rows.map(toEntry));
        }),
      );
      if (found.size === 0) await sleep(Math.min(options.blockMs, CLUSTER_TAIL_POLL_MS));
      return found;
    }
    // Waits through a reconnect instead of failing each read (the loop would only retry it).
    this.tailConnection ??= (this.redis as Redis).duplicate({ enableOfflineQueue: true });
    const reply = await this.tailConnection.xreadBuffer(
      'COUNT',
      options.count,
      'BLOCK',
      options.blockMs,
      'STREAMS',
      ...cursors.map((c) => this.keys(c.regionId).log),
      ...cursors.map((c) => `${c.afterId}-0`),
    );
    for (const [key, rows] of reply ?? []) {
      const region = keyOf.get(key.toString());
      if (region !== undefined && rows.length > 0) found.set(region, rows.map(toEntry));
    }
    return found;
  }

  async followerPositions(regionIds: RegionId[]): Promise<Map<bigint, FollowerPosition>> {
    const rows = await Promise.all(
      regionIds.map((id) =>
        this.redis.hmget(this.keys(id).meta, 'inc', 'last', 'trimmed', 'rts', 'rtsEntry'),
      ),
    );
    return new Map(
      rows.map(([inc, last, trimmed, rts, rtsEntry], i) => [
        regionIds[i]!.value,
        {
          incarnation: inc ?? undefined,
          lastEntryId: Number(last ?? 0),
          trimmedEntryId: Number(trimmed ?? 0),
          resolvedTs: BigInt(rts ?? 0),
          resolvedEntryId: Number(rtsEntry ?? 0),
        },
      ]),
    );
  }

  async publishResolvedTs(regionId: RegionId, ts: bigint, fence: Fence): Promise<void> {
    checkFence(fence);
    try {
      await this.commands.rsWalResolve(
        this.keys(regionId).meta,
        fence.nodeId,
        String(fence.epoch),
        ts.toString().padStart(20, '0'),
      );
    } catch (err) {
      throw this.translate(err, regionId);
    }
  }

  async close(): Promise<void> {
    this.tailConnection?.disconnect();
    this.tailConnection = undefined;
  }

  async lastEntryId(regionId: RegionId): Promise<number> {
    return Number((await this.redis.hget(this.keys(regionId).meta, 'last')) ?? 0);
  }

  async trimmedEntryId(regionId: RegionId): Promise<number> {
    return Number((await this.redis.hget(this.keys(regionId).meta, 'trimmed')) ?? 0);
  }

  async position(regionId: RegionId): Promise<WalPosition> {
    const [last, trimmed, inc, rts, retired] = await this.redis.hmget(
      this.keys(regionId).meta,
      'last',
      'trimmed',
      'inc',
      'rts',
      'retired',
    );
    return {
      lastEntryId: Number(last ?? 0),
      trimmedEntryId: Number(trimmed ?? 0),
      incarnation: inc ?? undefined,
      resolvedTs: BigInt(rts ?? 0),
      ...(retired ? { retired: true as const } : {}),
    };
  }

  async restore(regionId: RegionId, entryId: number): Promise<number> {
    checkEntryId('entryId', entryId);
    const { log, meta } = this.keys(regionId);
    try {
      return Number(await this.commands.rsWalRestore(log, meta, String(entryId), newIncarnation()));
    } catch (err) {
      throw this.translate(err, regionId);
    }
  }

  async commitFlush(regionId: RegionId, commit: FlushCommit): Promise<number> {
    checkFence(commit.fence);
    checkEntryId('uptoId', commit.uptoId);
    const floor = commit.retain?.floorId ?? commit.uptoId;
    checkEntryId('floorId', floor);
    if (!commit.manifest)
      throw new InvalidArgumentError('a flush commit must name its manifest', {
        regionId: regionId.toString(),
      });
    const { log, meta, followers } = this.keys(regionId);
    try {
      return Number(
        await this.commands.rsWalCommitFlush(
          log,
          meta,
          followers,
          commit.fence.nodeId,
          String(commit.fence.epoch),
          commit.manifest,
          commit.previous ?? '',
          commit.uptoId,
          floor,
          commit.retain?.leader ?? '',
          commit.retain?.staleMs ?? 0,
        ),
      );
    } catch (err) {
      throw this.translate(err, regionId);
    }
  }

  async committedManifest(regionId: RegionId): Promise<string | undefined> {
    return (await this.redis.hget(this.keys(regionId).meta, 'manifest')) ?? undefined;
  }

  async reportFollowers(nodeId: string, cursors: TailCursor[]): Promise<void> {
    for (const cursor of cursors) checkEntryId('afterId', cursor.afterId);
    await Promise.all(
      cursors.map((c) => {
        const { followers, meta } = this.keys(c.regionId);
        return this.commands.rsWalFollowerApplied(followers, meta, nodeId, String(c.afterId));
      }),
    );
  }

  async setFence(regionId: RegionId, fence: Fence): Promise<void> {
    checkFence(fence);
    try {
      await this.commands.rsWalSetFence(
        this.keys(regionId).meta,
        fence.nodeId,
        String(fence.epoch),
        newIncarnation(),
      );
    } catch (err) {
      throw this.translate(err, regionId);
    }
  }

  async fence(regionId: RegionId): Promise<Fence | undefined> {
    const [nodeId, epoch] = await this.redis.hmget(this.keys(regionId).meta, 'node', 'epoch');
    return nodeId && epoch ? { nodeId, epoch: Number(epoch) } : undefined;
  }

  async retire(regionId: RegionId, fence?: Fence): Promise<void> {
    const { log, meta, followers } = this.keys(regionId);
    if (!fence) {
      await this.commands.rsWalRetire(log, meta, followers);
      return;
    }
    checkFence(fence);
    await this.commands
      .rsWalRetire(log, meta, followers, fence.nodeId, String(fence.epoch))
      .catch((err: unknown) => {
        throw this.translate(err, regionId);
      });
  }

  private trimmedError(regionId: RegionId, from: number, trimmed: number): NotFoundError {
    return new NotFoundError(
      `WAL entries ${from}..${trimmed} of region ${regionId.toString()} were trimmed; read from ${trimmed + 1}`,
      { regionId: regionId.toString(), fromId: from, trimmedUpTo: trimmed },
    );
  }

  private translate(err: unknown, regionId: RegionId): Error {
    if (err instanceof Error && isRegionStoreError(err)) return err;
    const message = (err as Error).message ?? String(err);
    const region = regionId.toString();
    const fenced = /\b(NOTLEADER|STALEFENCE) (\S+) (\d+)/.exec(message);
    if (fenced?.[1] === 'NOTLEADER') {
      return new NotLeaderError(`region ${region} is led by node ${fenced[2]} at epoch ${fenced[3]}`, {
        regionId: region,
        leader: fenced[2],
        epoch: Number(fenced[3]),
      });
    }
    if (fenced?.[1] === 'STALEFENCE') {
      return new EpochNotMatchError(
        `region ${region} is already fenced for node ${fenced[2]} at epoch ${fenced[3]}`,
        { regionId: region, leader: fenced[2], epoch: Number(fenced[3]) },
      );
    }
    const committed = /\bSTALEMANIFEST (\S+)/.exec(message);
    if (committed) {
      return new CancelledError(
        `region ${region} committed manifest ${committed[1]} meanwhile; this flush is dropped`,
        { regionId: region, committed: committed[1] },
      );
    }
    if (/\bRETIRED\b/.test(message)) {
      return new RegionNotFoundError(
        `region ${region} was retired (dropped, merged away, or a split abandoned); no node may write it again`,
        { regionId: region },
      );
    }
    if (/\bNOFENCE\b/.test(message)) {
      return new NotLeaderError(`region ${region} has no WAL fence: no node may write it yet`, {
        regionId: region,
      });
    }
    if (isRedisUnreachable(err)) {
      // The command never left this process, so nothing was written: safe for the client to retry.
      return new ServerIsBusyError(
        `WAL of region ${region} is unreachable (Redis): ${message}`,
        { regionId: region },
        { cause: err },
      );
    }
    return new StorageError(`WAL of region ${region}: ${message}`, { regionId: region }, { cause: err });
  }
}

declare module 'ioredis' {
  interface ChainableCommander {
    rsWalAppend(...args: Array<string | Buffer | number>): ChainableCommander;
  }
}

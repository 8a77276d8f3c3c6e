import { mkdirSync } from 'node:fs';
import RocksDB from 'rocksdb-native';
import {
  InternalError,
  InvalidArgumentError,
  RegionStoreError,
  ServerIsBusyError,
  compareKeys,
  formatRange,
  isValidRange,
  type KeyRange,
} from '@regionstore/core';
import { ALL_CFS, CF_DEFAULT, checkCf, type CfName } from './cf';
import { ensureLatestBuilt } from './latest';
import type {
  DeleteStrategy,
  EngineSnapshot,
  IterateOptions,
  KvEngine,
  KvEntry,
  KvReader,
} from './kv-engine';
import { WriteBatch } from './write-batch';

export interface RocksEngineOptions {
  path: string;
  /** Memtable size per CF (RocksDB's default, 64 MiB); smaller means more frequent flushes. */
  writeBufferSize?: number;
  /** Memtables per CF, the one being written and those waiting to flush (RocksDB's default, 2). */
  maxWriteBufferNumber?: number;
  /** RocksDB's `level0_slowdown_writes_trigger` (its default, 20); used by ingestMaybeSlowdownWrites. */
  level0SlowdownWritesTrigger?: number;
  /** RocksDB's `level0_file_num_compaction_trigger` (its default, 4). */
  level0FileNumCompactionTrigger?: number;
  /**
   * Bytes written after which every column family is flushed (default: the write buffer size), so
   * RocksDB can delete its log files: what RocksDB's `max_total_wal_size` does, which the binding
   * does not expose. A log goes only once every CF has flushed what it holds of it, and the small
   * CFs (`raft`: one apply state per write) fill their memtables so slowly that otherwise every log
   * since the last one stays, about as many bytes as were written (RocksDB's own bound is 4 × the
   * memtables of every CF). Measured: 127 MiB written through `putVersion` left 270 MB of logs.
   */
  maxTotalWalBytes?: number;
}

/** RocksDB's default memtable size. */
const DEFAULT_WRITE_BUFFER_SIZE = 64 * 1024 * 1024;

const DELETE_BY_KEY_BATCH = 256;
const DELETE_BY_WRITER_BATCH_BYTES = 32 * 1024 * 1024;
const DEFAULT_ITERATE_BATCH = 256;

function wrap(what: string, err: unknown): RegionStoreError {
  if (err instanceof RegionStoreError) return err;
  return new InternalError(`rocksdb ${what} failed: ${(err as Error).message ?? err}`, {}, { cause: err });
}

/** Reads through binding sessions: the live ones for the engine, snapshot ones for a snapshot. */
class SessionReader implements KvReader {
  constructor(
    protected readonly session: (cf: CfName) => RocksDB,
    protected readonly guard: () => void,
  ) {}

  async get(cf: CfName, key: Buffer): Promise<Buffer | undefined> {
    this.guard();
    try {
      return (await this.session(checkCf(cf)).get(key)) ?? undefined;
    } catch (err) {
      throw wrap('get', err);
    }
  }

  async getMany(cf: CfName, keys: Buffer[]): Promise<Array<Buffer | undefined>> {
    this.guard();
    if (keys.length === 0) return [];
    const batch = this.session(checkCf(cf)).read({ capacity: keys.length });
    try {
      const pending = keys.map((key) => batch.get(key));
      batch.tryFlush();
      return (await Promise.all(pending)).map((value) => value ?? undefined);
    } catch (err) {
      throw wrap('multi-get', err);
    } finally {
      batch.destroy();
    }
  }

  async *iterate(cf: CfName, options: IterateOptions = {}): AsyncIterable<KvEntry> {
    this.guard();
    const range: Parameters<RocksDB['iterator']>[0] = {};
    if (options.start && options.start.length > 0) range.gte = options.start;
    if (options.end && options.end.length > 0) range.lt = options.end;
    if (options.reverse) range.reverse = true;
    if (options.limit !== undefined) {
      if (options.limit <= 0) return;
      range.limit = options.limit;
    }
    const iterator = this.session(checkCf(cf)).iterator(range, {
      capacity: options.batchSize ?? DEFAULT_ITERATE_BATCH,
    });
    for await (const entry of iterator) {
      yield { key: entry.key, value: entry.value };
    }
  }
}

class RocksSnapshot extends SessionReader implements EngineSnapshot {
  private released = false;

  constructor(
    private readonly root: RocksDB,
    private readonly cfSessions: Map<CfName, RocksDB>,
    readonly sequence: number,
    guard: () => void,
    private readonly onRelease: () => void,
  ) {
    super((cf) => {
      if (this.released) throw new InvalidArgumentError('engine snapshot used after release');
      return this.cfSessions.get(cf)!;
    }, guard);
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.onRelease();
    for (const [cf, session] of this.cfSessions) if (cf !== CF_DEFAULT) await session.close();
    await this.root.close();
  }
}

/**
 * KvEngine on rocksdb-native. Column families are real RocksDB CFs; a write batch spans CFs and is
 * applied atomically. Sequence numbers are the engine's own count of applied batches: the binding does
 * not expose RocksDB's, and the region runner only needs "is every live snapshot newer than this
 * point", which this count answers exactly for the process's lifetime.
 */
export class RocksEngine extends SessionReader implements KvEngine {
  private sequence = 0;
  private readonly liveSnapshots = new Map<number, number>();
  private nextSnapshotId = 0;
  private pausedUntil = 0;
  private closed = false;
  private readonly slowdownTrigger: number;
  private readonly compactionTrigger: number;

  private constructor(
    private readonly db: RocksDB,
    private readonly sessions: Map<CfName, RocksDB>,
    readonly path: string,
    options: RocksEngineOptions,
  ) {
    super(
      (cf) => sessions.get(cf)!,
      () => this.checkAvailable(),
    );
    this.slowdownTrigger = options.level0SlowdownWritesTrigger ?? 20;
    this.compactionTrigger = options.level0FileNumCompactionTrigger ?? 4;
    this.maxTotalWalBytes = options.maxTotalWalBytes ?? options.writeBufferSize ?? DEFAULT_WRITE_BUFFER_SIZE;
  }

  private readonly maxTotalWalBytes: number;
  /** Bytes written since every CF was last flushed (an estimate of what the live logs hold). */
  private walBytes = 0;
  private walFlush: Promise<void> | undefined;

  /** Flushes every CF once the logs hold `maxTotalWalBytes`; one such flush at a time, off the write. */
  private boundWal(bytes: number): void {
    this.walBytes += bytes;
    if (this.walBytes < this.maxTotalWalBytes || this.walFlush || this.closed) return;
    this.walBytes = 0;
    this.walFlush = (async () => {
      for (const cf of ALL_CFS) {
        if (this.closed) return;
        await this.cfSession(cf).flush();
      }
    })()
      .catch(() => undefined) // a failed flush leaves the logs for the next one; writes go on
      .finally(() => {
        this.walFlush = undefined;
      });
  }

  static async open(options: RocksEngineOptions): Promise<RocksEngine> {
    mkdirSync(options.path, { recursive: true });
    const db = new RocksDB(options.path, {
      columnFamilies: ALL_CFS.filter((cf) => cf !== CF_DEFAULT),
      // Given to the database, these apply to every column family: memtables are most of the
      // engine's memory, at most CFs × maxWriteBufferNumber × writeBufferSize.
      ...(options.writeBufferSize ? { writeBufferSize: options.writeBufferSize } : {}),
      ...(options.maxWriteBufferNumber ? { maxWriteBufferNumber: options.maxWriteBufferNumber } : {}),
    });
    try {
      await db.ready();
    } catch (err) {
      throw wrap(`open of ${options.path}`, err);
    }
    const sessions = new Map<CfName, RocksDB>();
    for (const cf of ALL_CFS) sessions.set(cf, cf === CF_DEFAULT ? db : db.columnFamily(cf));
    const engine = new RocksEngine(db, sessions, options.path, options);
    try {
      await ensureLatestBuilt(engine);
    } catch (err) {
      await engine.close();
      throw err;
    }
    return engine;
  }

  private checkAvailable(): void {
    if (this.closed) throw new InternalError(`engine at ${this.path} is closed`);
    if (Date.now() < this.pausedUntil) {
      throw new ServerIsBusyError(`engine at ${this.path} is paused`, {
        pausedForMs: this.pausedUntil - Date.now(),
      });
    }
  }

  private cfSession(cf: CfName): RocksDB {
    return this.sessions.get(checkCf(cf))!;
  }

  async write(batch: WriteBatch): Promise<void> {
    this.checkAvailable();
    if (batch.isEmpty()) return;
    const native = this.db.write({ capacity: batch.count });
    try {
      // The binding tags each operation with the CF of the session the batch belongs to; pointing
      // the batch at each CF's session in turn puts all CFs into one native, atomic batch.
      for (const op of batch.ops) {
        native._db = this.cfSession(op.cf);
        if (op.type === 'put') native.tryPut(op.key, op.value);
        else if (op.type === 'delete') native.tryDelete(op.key);
        else native.tryDeleteRange(op.start, op.end);
      }
      native._db = this.db;
      await native.flush();
      this.sequence += 1;
      this.boundWal(batch.dataSize);
    } catch (err) {
      native._db = this.db;
      throw wrap('write', err);
    } finally {
      native.destroy();
    }
  }

  put(cf: CfName, key: Buffer, value: Buffer): Promise<void> {
    return this.write(new WriteBatch().put(cf, key, value));
  }

  delete(cf: CfName, key: Buffer): Promise<void> {
    return this.write(new WriteBatch().delete(cf, key));
  }

  snapshot(): EngineSnapshot {
    this.checkAvailable();
    const root = this.db.snapshot();
    const cfSessions = new Map<CfName, RocksDB>();
    for (const cf of ALL_CFS)
      cfSessions.set(cf, cf === CF_DEFAULT ? root : root.session({ columnFamily: cf }));
    const id = this.nextSnapshotId++;
    this.liveSnapshots.set(id, this.sequence);
    return new RocksSnapshot(
      root,
      cfSessions,
      this.sequence,
      () => this.checkAvailable(),
      () => this.liveSnapshots.delete(id),
    );
  }

  latestSequence(): number {
    return this.sequence;
  }

  oldestSnapshotSequence(): number | undefined {
    let oldest: number | undefined;
    for (const sequence of this.liveSnapshots.values()) {
      if (oldest === undefined || sequence < oldest) oldest = sequence;
    }
    return oldest;
  }

  /** The exclusive end to use for a range whose end may be empty (unbounded); undefined = nothing there. */
  private async concreteEnd(cf: CfName, range: KeyRange): Promise<Buffer | undefined> {
    if (range.end.length > 0) return range.end;
    for await (const { key } of this.iterate(cf, { start: range.start, reverse: true, limit: 1 })) {
      return Buffer.concat([key, Buffer.from([0])]);
    }
    return undefined;
  }

  async deleteRanges(cf: CfName, strategy: DeleteStrategy, ranges: KeyRange[]): Promise<void> {
    this.checkAvailable();
    checkCf(cf);
    for (const range of ranges) {
      if (!isValidRange(range)) throw new InvalidArgumentError(`invalid range ${formatRange(range)}`);
    }
    switch (strategy) {
      case 'DeleteByKey':
        return this.deleteKeys(cf, ranges, (batch) => batch.count >= DELETE_BY_KEY_BATCH);
      case 'DeleteByWriter':
        return this.deleteKeys(cf, ranges, (batch) => batch.dataSize >= DELETE_BY_WRITER_BATCH_BYTES);
      case 'DeleteByRange':
        return this.deleteWithTombstones(cf, ranges, false);
      case 'DeleteFiles':
        return this.deleteWithTombstones(cf, ranges, true);
      default:
        throw new InvalidArgumentError(`unknown delete strategy '${strategy as string}'`);
    }
  }

  private async deleteKeys(
    cf: CfName,
    ranges: KeyRange[],
    full: (batch: WriteBatch) => boolean,
  ): Promise<void> {
    let batch = new WriteBatch();
    for (const range of ranges) {
      for await (const { key } of this.iterate(cf, { start: range.start, end: range.end, batchSize: 1024 })) {
        batch.delete(cf, key);
        if (full(batch)) {
          await this.write(batch);
          batch = new WriteBatch();
        }
      }
    }
    await this.write(batch);
  }

  private async deleteWithTombstones(cf: CfName, ranges: KeyRange[], compact: boolean): Promise<void> {
    const batch = new WriteBatch();
    const concrete: Array<{ start: Buffer; end: Buffer }> = [];
    for (const range of ranges) {
      const end = await this.concreteEnd(cf, range);
      if (end === undefined || compareKeys(range.start, end) >= 0) continue;
      batch.deleteRange(cf, range.start, end);
      concrete.push({ start: range.start, end });
    }
    await this.write(batch);
    if (compact) {
      for (const range of concrete) await this.compactRange(cf, range.start, range.end);
    }
  }

  /**
   * RocksDB's own memory, summed over the column families: memtables, table readers (index and filter
   * blocks outside the block cache) and the block cache.
   */
  async memoryUsage(): Promise<{ memtables: number; tableReaders: number; blockCache: number }> {
    this.checkAvailable();
    const sum = async (property: string) => {
      let total = 0;
      for (const cf of ALL_CFS) total += Number((await this.cfSession(cf).getProperty(property)) ?? 0);
      return total;
    };
    return {
      memtables: await sum('rocksdb.cur-size-all-mem-tables'),
      tableReaders: await sum('rocksdb.estimate-table-readers-mem'),
      blockCache: await sum('rocksdb.block-cache-usage'),
    };
  }

  async numFilesAtLevel(cf: CfName, level: number): Promise<number> {
    this.checkAvailable();
    const value = await this.cfSession(cf).getProperty(`rocksdb.num-files-at-level${level}`);
    return Number(value ?? 0);
  }

  async estimateNumKeys(cf: CfName): Promise<number> {
    this.checkAvailable();
    return Number((await this.cfSession(cf).getProperty('rocksdb.estimate-num-keys')) ?? 0);
  }

  async ingestMaybeSlowdownWrites(cf: CfName): Promise<boolean> {
    const l0 = await this.numFilesAtLevel(cf, 0);
    return l0 > Math.floor(this.slowdownTrigger / 2) && l0 >= this.compactionTrigger;
  }

  async flush(cf: CfName): Promise<void> {
    this.checkAvailable();
    try {
      await this.cfSession(cf).flush();
    } catch (err) {
      throw wrap('flush', err);
    }
  }

  async compactRange(cf: CfName, start: Buffer, end: Buffer): Promise<void> {
    this.checkAvailable();
    try {
      await this.cfSession(cf).compactRange(start.length > 0 ? start : null, end.length > 0 ? end : null);
    } catch (err) {
      throw wrap('compaction', err);
    }
  }

  async approximateSize(
    cf: CfName,
    start: Buffer,
    end: Buffer,
    only?: 'files' | 'memtables',
  ): Promise<number> {
    this.checkAvailable();
    const concrete = await this.concreteEnd(cf, { start, end });
    if (concrete === undefined) return 0;
    return this.cfSession(cf).approximateSize(start, concrete, {
      includeMemtables: only !== 'files',
      includeFiles: only !== 'memtables',
    });
  }

  pause(ms: number): void {
    this.pausedUntil = Date.now() + ms;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.walFlush;
    await this.db.close({ force: true });
  }
}

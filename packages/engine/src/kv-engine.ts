import type { KeyRange } from '@regionstore/core';
import type { CfName } from './cf';
import type { WriteBatch } from './write-batch';

export interface KvEntry {
  key: Buffer;
  value: Buffer;
}

export interface IterateOptions {
  /** Inclusive lower bound; empty or missing = from the first key. */
  start?: Buffer;
  /** Exclusive upper bound; empty or missing = to the last key. */
  end?: Buffer;
  reverse?: boolean;
  limit?: number;
  /** How many entries each native read fetches at once. */
  batchSize?: number;
}

/**
 * How `deleteRanges` removes keys. RocksDB offers more ways than the binding exposes, so each
 * strategy maps to the closest operation the binding has (see the package README):
 * - `DeleteByKey`: a point delete per key, written in small batches.
 * - `DeleteByRange`: one range tombstone per range (RocksDB DeleteRange).
 * - `DeleteFiles`: a range tombstone, then a compaction of the range so the files holding it are
 *   rewritten and their space freed (RocksDB's DeleteFilesInRange is not exposed).
 * - `DeleteByWriter`: point deletes staged into large batches (TiKV writes them into an SST and
 *   ingests it; the binding has no ingestion).
 */
export const DELETE_STRATEGIES = ['DeleteByKey', 'DeleteByRange', 'DeleteFiles', 'DeleteByWriter'] as const;
export type DeleteStrategy = (typeof DELETE_STRATEGIES)[number];

/** Reads that work the same on the live engine and on a snapshot. */
export interface KvReader {
  get(cf: CfName, key: Buffer): Promise<Buffer | undefined>;
  getMany(cf: CfName, keys: Buffer[]): Promise<Array<Buffer | undefined>>;
  iterate(cf: CfName, options?: IterateOptions): AsyncIterable<KvEntry>;
}

/** A consistent read view; it pins old data until released. */
export interface EngineSnapshot extends KvReader {
  /** The engine's latest sequence number when the snapshot was taken. */
  readonly sequence: number;
  release(): Promise<void>;
}

export interface KvEngine extends KvReader {
  readonly path: string;
  write(batch: WriteBatch): Promise<void>;
  put(cf: CfName, key: Buffer, value: Buffer): Promise<void>;
  delete(cf: CfName, key: Buffer): Promise<void>;
  snapshot(): EngineSnapshot;
  /** Grows by one with every applied write batch. */
  latestSequence(): number;
  /** The sequence of the oldest snapshot still alive; undefined when none is. */
  oldestSnapshotSequence(): number | undefined;
  deleteRanges(cf: CfName, strategy: DeleteStrategy, ranges: KeyRange[]): Promise<void>;
  numFilesAtLevel(cf: CfName, level: number): Promise<number>;
  /** TiKV's rule: true when L0 files > slowdown trigger / 2 and >= the compaction trigger. */
  ingestMaybeSlowdownWrites(cf: CfName): Promise<boolean>;
  flush(cf: CfName): Promise<void>;
  compactRange(cf: CfName, start: Buffer, end: Buffer): Promise<void>;
  /**
   * RocksDB's estimate of the bytes in [start, end): from index blocks for files, from entry counts
   * times the average entry size for memtables. `only` limits it to one of the two.
   */
  approximateSize(cf: CfName, start: Buffer, end: Buffer, only?: 'files' | 'memtables'): Promise<number>;
  /**
   * RocksDB's estimate of the entries in the column family, memtables and files
   * (`rocksdb.estimate-num-keys`: puts count, and deletes are taken off, until compaction settles
   * them; after many deletes it can read low, even 0).
   */
  estimateNumKeys(cf: CfName): Promise<number>;
  /** Test hook: for `ms`, every operation fails at once with ServerIsBusy. */
  pause(ms: number): void;
  close(): Promise<void>;
}

import { CancelledError, LockedError, escapeKey, type KeyRange, type Timestamp } from '@regionstore/core';
import { type Logger } from '@regionstore/runtime';
import {
  decodeMvccKey,
  encodeVersion,
  mvccIncrementalScan,
  mvccScan,
  type CfName,
  type ConcurrencyManager,
  type KvEngine,
  type KvEntry,
  type KvReader,
} from '@regionstore/engine';
import type { BackupFile, BackupRequest } from '@regionstore/protocol';
import type { ExternalStorage } from '@regionstore/storage-backends';
import { writeSnapshotFile, type CompressionType } from '@regionstore/region-files';
import { backupFileName, sha256Hex } from './file-name';
import type { BackupMetrics } from './metrics';
import type { BackupRange } from './progress';

export interface RangeContext {
  storeId: string;
  engine: KvEngine;
  concurrency: ConcurrencyManager;
  /** Already wrapped in the task's rate limiter. */
  storage: ExternalStorage;
  sstMaxSize: number;
  metrics: BackupMetrics;
  logger: Logger;
  now(): number;
  /**
   * Admits a read at `ts` before the backup reads there: raises the node's max ts to it, so no later
   * write commits at or below it, and refuses a ts the node cannot vouch for (see ReadAdmission).
   */
  admitRead(ts: Timestamp): void;
  /**
   * Told of every entry the backup reads, kept or not (an incremental backup of a large region with
   * few changes reads much and keeps little), so the task can report how far it got.
   */
  scanned(entries: number): void;
  /** True once the task is cancelled: the range stops at its next entry. */
  cancelled(): boolean;
}

function compressionOf(request: BackupRequest): CompressionType {
  // `unknown` means "the default", which for our files is lz4 (RocksDB's default for SSTs too).
  return request.compressionType === 'unknown' ? 'lz4' : request.compressionType;
}

/** Versions of a transactional backup, as the engine stores them, in key order. */
async function* txnEntries(
  snapshot: KvReader,
  range: KeyRange,
  request: BackupRequest,
): AsyncIterable<KvEntry> {
  // Incremental backups carry deletes too, so a restore of base + increments ends in the later state.
  const versions =
    request.startVersion > 0n
      ? mvccIncrementalScan(snapshot, range, request.startVersion, request.endVersion)
      : mvccScan(snapshot, range, request.endVersion, { batchSize: 1024 });
  for await (const version of versions) yield encodeVersion(version);
}

/**
 * Writes `entries` as `.rsst` files of at most about `sstMaxSize` raw bytes each. Each file is named
 * after the hash of its own first key and covers [its first key, the next file's first key).
 */
async function writeFiles(
  ctx: RangeContext,
  brange: BackupRange,
  request: BackupRequest,
  cf: CfName,
  entries: AsyncIterable<KvEntry>,
  userKey: (engineKey: Buffer) => Buffer,
): Promise<BackupFile[]> {
  const iterator = entries[Symbol.asyncIterator]();
  let pending = await iterator.next();
  const files: BackupFile[] = [];
  let fileStart = brange.range.start;
  const kind = request.isRawKv ? 'raw' : 'txn';
  try {
    while (!pending.done) {
      let bytes = 0;
      async function* part(): AsyncIterable<KvEntry> {
        while (!pending.done) {
          const entry = pending.value;
          const size = entry.key.length + entry.value.length;
          if (bytes > 0 && bytes + size > ctx.sstMaxSize) return;
          if (ctx.cancelled())
            throw new CancelledError(`backup of ${escapeKey(brange.range.start)}.. cancelled`);
          bytes += size;
          yield entry;
          pending = await iterator.next();
        }
      }
      const name = `${backupFileName(ctx.storeId, brange.region, sha256Hex(fileStart), ctx.now())}_${cf}.rsst`;
      const file = writeSnapshotFile(part(), {
        compression: compressionOf(request),
        ...(request.compressionLevel ? { compressionLevel: request.compressionLevel } : {}),
        meta: { cf, kind, region: brange.region.regionId.toString() },
      });
      const { size } = await ctx.storage.write(name, file.stream);
      const info = await file.info;
      const fileEnd = pending.done ? brange.range.end : userKey(pending.value.key);
      files.push({
        name,
        startKey: fileStart,
        endKey: fileEnd,
        startVersion: request.startVersion,
        endVersion: request.endVersion,
        cf,
        kvCount: info.kvCount,
        rawBytes: info.rawBytes,
        size,
        sha256: info.sha256,
        kind,
      });
      ctx.metrics.bytes.inc(size);
      ctx.metrics.kvs.inc(info.kvCount);
      fileStart = fileEnd;
    }
  } finally {
    // A write that failed half-way (storage gone, task cancelled) leaves the scan suspended: closing
    // it frees its RocksDB iterator, which would otherwise hold the engine open.
    if (!pending.done) await iterator.return?.();
  }
  return files;
}

/** `reader`, telling `scanned` of each entry its iterators yield. */
function counted(reader: KvReader, scanned: (entries: number) => void): KvReader {
  return {
    get: (cf, key) => reader.get(cf, key),
    getMany: (cf, keys) => reader.getMany(cf, keys),
    async *iterate(cf, options) {
      for await (const entry of reader.iterate(cf, options)) {
        scanned(1);
        yield entry;
      }
    },
  };
}

/**
 * Backs up one range of one region. Transactional: raise `maxTs` to the backup ts so no later write
 * commits at or below it, refuse if a write at or below it is still in flight (`Locked`), then read a
 * snapshot at that ts. Raw: copy the CF's pairs as they are.
 */
export async function backupRange(
  ctx: RangeContext,
  brange: BackupRange,
  request: BackupRequest,
  cf: CfName,
): Promise<BackupFile[]> {
  const { range } = brange;
  if (!request.isRawKv) {
    ctx.admitRead(request.endVersion);
    const intent = ctx.concurrency.findIntentInRange(range, request.endVersion);
    if (intent) {
      throw new LockedError(`key ${escapeKey(intent.key)} is locked by a write at ${intent.ts}`, {
        key: intent.key.toString('base64'),
        lockTs: intent.ts.toString(),
      });
    }
  }
  const stopSnapshot = ctx.metrics.rangeSeconds.startTimer({ phase: 'snapshot' });
  const snapshot = ctx.engine.snapshot();
  const reader = counted(snapshot, ctx.scanned);
  stopSnapshot();
  const stopScan = ctx.metrics.rangeSeconds.startTimer({ phase: request.isRawKv ? 'raw_scan' : 'scan' });
  try {
    if (request.isRawKv) {
      const entries = reader.iterate(cf, { start: range.start, end: range.end, batchSize: 1024 });
      return await writeFiles(ctx, brange, request, cf, entries, (key) => key);
    }
    const entries = txnEntries(reader, range, request);
    return await writeFiles(ctx, brange, request, cf, entries, (key) => decodeMvccKey(key).key);
  } finally {
    stopScan();
    await snapshot.release();
  }
}

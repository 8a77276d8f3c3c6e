import { CancelledError, ChecksumMismatchError, NotFoundError } from '@regionstore/core';
import {
  WriteBatch,
  decodeVersion,
  VersionWriter,
  type CfName,
  type KvEngine,
  type KvEntry,
  type MvccVersion,
} from '@regionstore/engine';
import type { BackupFile, BackupMeta } from '@regionstore/protocol';
import type { ExternalStorage } from '@regionstore/storage-backends';
import { SnapshotFileReader, verifySnapshotFile, type SnapshotFileInfo } from '@regionstore/region-files';

/** Where restored data goes; the apps route it to the regions that own the keys. */
export interface RestoreSink {
  /** Versions of transactional files, with their original commit timestamps. */
  writeVersions(versions: MvccVersion[]): Promise<void>;
  /** Pairs of raw files. */
  writeRaw(cf: CfName, entries: KvEntry[]): Promise<void>;
}

/** Writes straight into one engine (a node restoring its own regions, or a test). */
export class EngineRestoreSink implements RestoreSink {
  constructor(private readonly engine: KvEngine) {}

  async writeVersions(versions: MvccVersion[]): Promise<void> {
    const writer = new VersionWriter(this.engine);
    await writer.writeOlder(versions);
    await this.engine.write(writer.batch);
  }

  async writeRaw(cf: CfName, entries: KvEntry[]): Promise<void> {
    const batch = new WriteBatch();
    for (const entry of entries) batch.put(cf, entry.key, entry.value);
    await this.engine.write(batch);
  }
}

/**
 * Checks one backup file against the meta: it exists, its blocks pass their checksums, and its sha256
 * and KV count match. Throws `NotFound` or `ChecksumMismatch`/`CorruptFile`.
 */
export async function verifyBackupFile(storage: ExternalStorage, file: BackupFile): Promise<void> {
  if (!(await storage.exists(file.name))) {
    throw new NotFoundError(`backup file ${file.name} is missing`, { file: file.name });
  }
  checkAgainstMeta(file, await verifySnapshotFile(await storage.read(file.name), file.name));
}

function checkAgainstMeta(file: BackupFile, info: SnapshotFileInfo): void {
  if (info.sha256 !== file.sha256 || info.kvCount !== file.kvCount) {
    throw new ChecksumMismatchError(
      `backup file ${file.name} does not match the backup meta (sha256 ${info.sha256} vs ${file.sha256}, ${info.kvCount} vs ${file.kvCount} KVs)`,
      { file: file.name },
    );
  }
}

export interface RestoreProgress {
  phase: 'verify' | 'write';
  filesDone: number;
  filesTotal: number;
  kvs: number;
}

export interface RestoreOptions {
  storage: ExternalStorage;
  sink: RestoreSink;
  /** Entries handed to the sink per call. */
  batchSize?: number;
  onProgress?: (progress: RestoreProgress) => void;
  /**
   * The caller verified every file against the meta just before (the metasrv does, for the whole
   * backup, before it sends any restore job), so the separate verification pass is skipped. The write
   * pass still checks each block's checksum before writing its entries, and each file's sha256 and KV
   * count at its end.
   */
  verified?: boolean;
  /** Aborted: the restore stops before its next batch with CancelledError. */
  signal?: AbortSignal;
}

/**
 * Restores a backup: first verifies every file (block checksums, sha256 and KV count against the
 * meta) and writes nothing if one fails (unless the caller did, see `verified`), then writes each
 * file through the sink. Versions keep their
 * commit timestamps, so running it again writes the same bytes.
 */
export class RestoreRunner {
  private readonly batchSize: number;

  constructor(private readonly options: RestoreOptions) {
    this.batchSize = options.batchSize ?? 1024;
  }

  /** Restores the files of a backup (its meta, or the part of it a node was given). */
  async run(meta: Pick<BackupMeta, 'files'>): Promise<{ files: number; kvs: number }> {
    const { storage, onProgress } = this.options;
    const total = meta.files.length;
    for (const [done, file] of this.options.verified ? [] : meta.files.entries()) {
      await verifyBackupFile(storage, file);
      onProgress?.({ phase: 'verify', filesDone: done + 1, filesTotal: total, kvs: 0 });
    }
    let kvs = 0;
    for (const [done, file] of meta.files.entries()) {
      kvs += await this.restoreFile(storage, file);
      onProgress?.({ phase: 'write', filesDone: done + 1, filesTotal: total, kvs });
    }
    return { files: total, kvs };
  }

  private async restoreFile(storage: ExternalStorage, file: BackupFile): Promise<number> {
    const reader = new SnapshotFileReader(await storage.read(file.name), file.name);
    const cf = file.cf as CfName;
    let pending: KvEntry[] = [];
    let count = 0;
    const flush = async () => {
      if (this.options.signal?.aborted) throw new CancelledError(`restore of ${file.name} cancelled`);
      if (pending.length === 0) return;
      if (file.kind === 'raw') await this.options.sink.writeRaw(cf, pending);
      else await this.options.sink.writeVersions(pending.map((e) => decodeVersion(e.key, e.value)));
      count += pending.length;
      pending = [];
    };
    for await (const entry of reader.entries()) {
      pending.push(entry);
      if (pending.length >= this.batchSize) await flush();
    }
    // The footer is checked before the last batch goes out, so a file changed since its verification
    // cannot finish as if it were whole.
    checkAgainstMeta(file, reader.info!);
    await flush();
    return count;
  }
}

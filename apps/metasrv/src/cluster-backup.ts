import { InvalidArgumentError, type Logger, type Redis } from '@regionstore/core';
import { buildBackupMeta, readBackupMeta, writeBackupMeta } from '@regionstore/backup';
import type { BackupMeta, BackupRequest } from '@regionstore/protocol';
import { createStorage } from '@regionstore/storage-backends';
import type { ClusterStore } from './cluster-store';
import type { NodeTaskClient } from './node-client';

export interface BackupRecord {
  id: string;
  storage: string;
  status: 'Running' | 'Done' | 'Failed';
  startedAt: string;
  finishedAt?: string;
  error?: string;
  files?: number;
  kvs?: number;
  bytes?: number;
}

/**
 * Cluster-wide backup: the request goes to every alive node (each backs up the regions it leads),
 * the responses are collected, and the `backupmeta` is written next to the files. A failed range
 * fails the whole backup (no meta). Records live in Redis (`<prefix>:meta:backups`).
 */
export class ClusterBackup {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly store: ClusterStore,
    private readonly nodes: NodeTaskClient,
    private readonly logger: Logger,
  ) {}

  private get key(): string {
    return `${this.prefix}:meta:backups`;
  }

  private async save(record: BackupRecord): Promise<void> {
    await this.redis.hset(this.key, record.id, JSON.stringify(record));
  }

  async list(): Promise<BackupRecord[]> {
    return Object.values(await this.redis.hgetall(this.key)).map((json) => JSON.parse(json) as BackupRecord);
  }

  async get(id: string): Promise<BackupRecord | undefined> {
    const json = await this.redis.hget(this.key, id);
    return json ? (JSON.parse(json) as BackupRecord) : undefined;
  }

  async run(id: string, request: BackupRequest): Promise<BackupRecord> {
    const record: BackupRecord = {
      id,
      storage: request.storage,
      status: 'Running',
      startedAt: new Date().toISOString(),
    };
    await this.save(record);
    try {
      const alive = (await this.store.nodes()).filter((n) => n.alive);
      const results = await Promise.all(
        alive.map((node) =>
          this.nodes.call(node.id, 'backup', { request }, { jobId: `backup-${id}-${node.id}` }),
        ),
      );
      const meta = buildBackupMeta(
        request,
        results.flatMap((r) => r.responses),
      );
      this.checkCoverage(meta);
      await writeBackupMeta(createStorage(request.storage), meta);
      Object.assign(record, {
        status: 'Done',
        files: meta.files.length,
        kvs: meta.files.reduce((n, f) => n + f.kvCount, 0),
        bytes: meta.files.reduce((n, f) => n + f.size, 0),
      });
    } catch (err) {
      Object.assign(record, { status: 'Failed', error: (err as Error).message });
      this.logger.error({ backup: id, err }, 'cluster backup failed');
    }
    record.finishedAt = new Date().toISOString();
    await this.save(record);
    return record;
  }

  /** Every requested key must be in some backed-up range (a region with no leader would leave a hole). */
  private checkCoverage(meta: BackupMeta): void {
    const sorted = [...meta.ranges].sort((a, b) => Buffer.compare(a.startKey, b.startKey));
    for (let i = 1; i < sorted.length; i++) {
      if (!sorted[i]!.startKey.equals(sorted[i - 1]!.endKey)) {
        throw new InvalidArgumentError(
          `backup misses keys from ${sorted[i - 1]!.endKey.toString('hex')} (a region had no leader)`,
        );
      }
    }
  }

  /**
   * Restores a backup: every alive node reads the files and writes the keys of the regions it leads
   * (through its write path, so the data is in the WAL). Verification happens on each node before it
   * writes anything.
   */
  async restore(storageUrl: string): Promise<{ files: number; kvs: number }> {
    const meta = await readBackupMeta(createStorage(storageUrl));
    const routes = await this.store.routes();
    const alive = (await this.store.nodes()).filter((n) => n.alive);
    const results = await Promise.all(
      alive.map(async (node) => {
        const ranges = routes.filter((r) => r.leader === node.id).map((r) => r.range);
        if (ranges.length === 0) return 0;
        return (await this.nodes.call(node.id, 'restore', { storage: storageUrl, files: meta.files, ranges }))
          .kvs;
      }),
    );
    return { files: meta.files.length, kvs: results.reduce((a, b) => a + b, 0) };
  }
}

import {
  InvalidArgumentError,
  NotLeaderError,
  errorFromBody,
  intersectRanges,
  keyRange,
} from '@regionstore/core';
import { BACKUP_META_NAME, buildBackupMeta, writeBackupMeta } from '@regionstore/backup';
import type { BackupMeta, BackupRequest, BackupResponse } from '@regionstore/protocol';
import { createStorage } from '@regionstore/storage-backends';
import type { ClusterStore } from './cluster-store';
import type { NodeTaskClient } from './node-client';
import type { Operations, OperationRecord } from './operation-records';
import { forEachRegion } from './region-jobs';

export interface BackupRecord extends OperationRecord {
  storage: string;
  regionsTotal?: number;
  regionsDone?: number;
  files?: number;
  kvs?: number;
  bytes?: number;
}

/**
 * Cluster-wide backup: one `backup` job per region, to the node that leads it (again to the new leader
 * if the region moves meanwhile), then the `backupmeta` next to the files. A failed range fails the
 * whole backup (no meta). Records live in Redis (`<prefix>:meta:backups`), with progress in regions.
 */
export class ClusterBackup {
  constructor(
    /** The records (`<prefix>:meta:backups` in Redis). */
    readonly operations: Operations<BackupRecord>,
    private readonly store: ClusterStore,
    private readonly nodes: NodeTaskClient,
  ) {}

  async start(
    id: string,
    request: BackupRequest,
  ): Promise<{ record: BackupRecord; done: Promise<BackupRecord> }> {
    // A second backup to the same place would overwrite the first one's backupmeta, and so lose it.
    if (await createStorage(request.storage).exists(BACKUP_META_NAME)) {
      throw new InvalidArgumentError(
        `${request.storage} already holds a backup (${BACKUP_META_NAME}); back up to a new location`,
        { storage: request.storage },
      );
    }
    const record: BackupRecord = {
      id,
      storage: request.storage,
      status: 'Running',
      startedAt: new Date().toISOString(),
    };
    return this.operations.launch(record, (r) => this.run(r, request));
  }

  private async run(record: BackupRecord, request: BackupRequest): Promise<void> {
    const wanted = keyRange(request.startKey, request.endKey);
    const routes = (await this.store.routes()).filter((r) => intersectRanges(r.range, wanted));
    Object.assign(record, { regionsTotal: routes.length, regionsDone: 0 });
    await this.operations.save(record);
    const responses = await forEachRegion(
      this.store,
      routes,
      (route, attempt) => {
        const range = intersectRanges(route.range, wanted)!;
        return this.backupRegion(
          record.id,
          { ...request, startKey: range.start, endKey: range.end },
          route.leader,
          `${route.regionId}-${attempt}`,
        );
      },
      async () => {
        record.regionsDone = (record.regionsDone ?? 0) + 1;
        await this.operations.save(record);
      },
    );
    const meta = buildBackupMeta(request, responses.flat());
    checkCoverage(meta);
    await writeBackupMeta(createStorage(request.storage), meta);
    Object.assign(record, {
      files: meta.files.length,
      kvs: meta.files.reduce((n, f) => n + f.kvCount, 0),
      bytes: meta.files.reduce((n, f) => n + f.size, 0),
    });
  }

  /** One region's range on its leader; a leader that no longer leads it answers with nothing. */
  private async backupRegion(
    id: string,
    request: BackupRequest,
    nodeId: string,
    attemptId: string,
  ): Promise<BackupResponse[]> {
    const { responses } = await this.nodes.call(
      nodeId,
      'backup',
      { request },
      { jobId: `backup-${id}-${attemptId}` },
    );
    const moved = responses.find((r) => r.error && ['NotLeader', 'ServerIsBusy'].includes(r.error.code));
    if (moved) throw errorFromBody(moved.error!);
    if (responses.length === 0) {
      throw new NotLeaderError(`node ${nodeId} led none of ${request.startKey.toString('hex')}.. any more`);
    }
    return responses;
  }
}

/** Every requested key must be in some backed-up range. */
function checkCoverage(meta: BackupMeta): void {
  const sorted = [...meta.ranges].sort((a, b) => Buffer.compare(a.startKey, b.startKey));
  for (let i = 1; i < sorted.length; i++) {
    if (!sorted[i]!.startKey.equals(sorted[i - 1]!.endKey)) {
      throw new InvalidArgumentError(
        `backup misses keys from ${sorted[i - 1]!.endKey.toString('hex')} (a region had no leader)`,
      );
    }
  }
}

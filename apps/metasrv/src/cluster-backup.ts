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
import type { GcSafePoints, HeldSafePoint } from './gc-safe-points';
import type { NodeTaskClient } from './node-client';
import { runTag, type Operations, type OperationRecord } from './operation-records';
import { forEachRange } from './region-jobs';

export interface BackupRecord extends OperationRecord {
  storage: string;
  /** The ts the backup reads at (decimal): an incremental backup after it starts from here. */
  endVersion?: string;
  /** For an incremental backup, the ts after which it holds the changes (decimal). */
  startVersion?: string;
  regionsTotal?: number;
  regionsDone?: number;
  files?: number;
  kvs?: number;
  bytes?: number;
}

/**
 * Cluster-wide backup: one `backup` job per region, to the node that leads it (again to the new leader
 * if the region moves meanwhile; the keys a split handed to a region led elsewhere go to that one),
 * then the `backupmeta` next to the files. A failed range fails the
 * whole backup (no meta). Records live in Redis (`<prefix>:meta:backups`), with progress in regions.
 */
export class ClusterBackup {
  constructor(
    /** The records (`<prefix>:meta:backups` in Redis). */
    readonly operations: Operations<BackupRecord>,
    private readonly store: ClusterStore,
    private readonly nodes: NodeTaskClient,
    /** The GC safepoint a backup holds back while it runs (absent in an assembly without GC). */
    private readonly gc: { gc?: GcSafePoints | undefined; safePointTtlMs: number } = { safePointTtlMs: 0 },
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
    // The hold below is named by the id: a second start of a running backup must not touch it.
    await this.operations.checkNotRunning(id);
    // From start to end the backup holds a service safepoint at the oldest version it reads (an
    // incremental one needs every change after startVersion, deletes included), so GC keeps them; one
    // older than the GC safepoint is refused here with TsTooOld, before anything is written.
    const oldest = request.startVersion > 0n ? request.startVersion : request.endVersion;
    const held = await this.gc.gc?.hold(`backup:${id}`, oldest, this.gc.safePointTtlMs);
    const record: BackupRecord = {
      id,
      storage: request.storage,
      endVersion: request.endVersion.toString(),
      ...(request.startVersion > 0n ? { startVersion: request.startVersion.toString() } : {}),
      status: 'Running',
      startedAt: new Date().toISOString(),
    };
    let launched: Awaited<ReturnType<typeof this.operations.launch>>;
    try {
      launched = await this.operations.launch(record, (r) => this.run(r, request, held));
    } catch (err) {
      await held?.release();
      throw err;
    }
    // Released once the record says Done or Failed: nobody sees a running backup without its
    // safepoint. A release that fails leaves it to its TTL.
    const done = launched.done.finally(() => held?.release().catch(() => undefined));
    return { record: launched.record, done };
  }

  private async run(record: BackupRecord, request: BackupRequest, held?: HeldSafePoint): Promise<void> {
    const wanted = keyRange(request.startKey, request.endKey);
    const routes = (await this.store.routes()).filter((r) => intersectRanges(r.range, wanted));
    Object.assign(record, { regionsTotal: routes.length, regionsDone: 0 });
    await this.operations.save(record);
    // Job ids name this run too: a node keeps finished jobs for hours and answers an id it knows with
    // that job's answer, so a run started again under the same backup id must not reuse one.
    const run = runTag(record);
    let jobs = 0;
    const responses = await forEachRange(
      this.store,
      wanted,
      async (route, part) => {
        const answered = await this.backupRegion(
          record.id,
          { ...request, startKey: part.start, endKey: part.end },
          route.leader,
          `${run}-${route.regionId}-${++jobs}`,
        );
        return { value: answered, covered: answered.map((r) => keyRange(r.startKey, r.endKey)) };
      },
      async (done, total) => {
        Object.assign(record, { regionsDone: done, regionsTotal: total });
        await this.operations.save(record);
      },
    );
    const meta = buildBackupMeta(request, responses.flat());
    checkCoverage(meta);
    // The files were read under the hold only if it never lapsed: else GC may have collected versions
    // they needed, and a backup meta would make a partial backup look whole.
    await held?.check();
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
    // A write at or below the backup's ts still in flight (`Locked`) is over within moments: asked again.
    const moved = responses.find(
      (r) => r.error && ['NotLeader', 'ServerIsBusy', 'Locked'].includes(r.error.code),
    );
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

import {
  FailedPreconditionError,
  escapeKey,
  keyRange,
  rangesOverlap,
  type KeyRange,
  type RegionId,
  type Timestamp,
} from '@regionstore/core';
import { readBackupMeta, verifyBackupFile } from '@regionstore/backup';
import type { BackupMeta } from '@regionstore/protocol';
import { createStorage, type ExternalStorage } from '@regionstore/storage-backends';
import type { RegionRoute } from '@regionstore/supervisor';
import type { ClusterStore } from './cluster-store';
import type { NodeTaskClient } from './node-client';
import { runTag, type Operations, type OperationRecord } from './operation-records';
import { forEachRange } from './region-jobs';

export interface RestoreRecord extends OperationRecord {
  storage: string;
  /** Restore over versions newer than the backup (they stay visible) instead of refusing. */
  force?: boolean;
  phase: 'verify' | 'check' | 'write';
  /** Parts of the backup's ranges checked for newer versions, of how many (regions, as they were). */
  regionsChecked?: number;
  regionsToCheck?: number;
  filesTotal?: number;
  filesVerified: number;
  regionsTotal?: number;
  regionsDone: number;
  kvs: number;
}

/**
 * Restores a backup into the cluster. First every file is verified against the `backupmeta` (sha256,
 * KV count, block checksums): one bad file and nothing is written. Then each part of the backup's
 * ranges a region holds goes, in a `restore` job, to that region's leader with only the files
 * overlapping it (a part whose region split and moved meanwhile is sent again where its keys are); the
 * node writes the versions through the region's write path at their original commit timestamps. Those
 * stay hidden under any newer version of their key, so before writing anything every part is asked
 * for a version committed after the backup's ts: one, and the restore fails (`FailedPrecondition`)
 * with nothing written, unless `force` (then the newer versions stay visible).
 */
export class ClusterRestore {
  constructor(
    /** The records (`<prefix>:meta:restores` in Redis). */
    readonly operations: Operations<RestoreRecord>,
    private readonly store: ClusterStore,
    private readonly nodes: NodeTaskClient,
  ) {}

  start(
    id: string,
    storageUrl: string,
    options: { force?: boolean } = {},
  ): Promise<{ record: RestoreRecord; done: Promise<RestoreRecord> }> {
    // A URL the backends cannot use fails here, before there is a record of it.
    const storage = createStorage(storageUrl);
    const record: RestoreRecord = {
      id,
      storage: storageUrl,
      status: 'Running',
      phase: 'verify',
      ...(options.force ? { force: true } : {}),
      startedAt: new Date().toISOString(),
      filesVerified: 0,
      regionsDone: 0,
      kvs: 0,
    };
    return this.operations.launch(record, (r) => this.run(r, storage));
  }

  private async run(record: RestoreRecord, storage: ExternalStorage): Promise<void> {
    const save = () => this.operations.save(record);
    const meta = await readBackupMeta(storage);
    record.filesTotal = meta.files.length;
    await save();
    for (const file of meta.files) {
      await verifyBackupFile(storage, file);
      record.filesVerified++;
      await save();
    }
    if (!record.force) {
      Object.assign(record, { phase: 'check', regionsChecked: 0 });
      await save();
      await this.refuseNewerVersions(meta, async (done, total) => {
        Object.assign(record, { regionsChecked: done, regionsToCheck: total });
        await save();
      });
    }
    const filesOf = (range: KeyRange) =>
      meta.files.filter((f) => rangesOverlap(keyRange(f.startKey, f.endKey), range));
    Object.assign(record, { phase: 'write', regionsDone: 0 });
    await save();
    // Part by part, as the check: a part whose region split and moved meanwhile is sent again where its
    // keys are now (a rewrite of what it wrote already is harmless: the same versions again).
    const run = runTag(record);
    let jobs = 0;
    await this.overBackup(
      meta,
      async (route, part) => {
        const files = filesOf(part);
        if (files.length > 0) {
          const { kvs } = await this.nodes.call(
            route.leader,
            'restore',
            // verified: every file passed above, so the node checks while it writes instead of reading twice
            { storage: record.storage, files, ranges: [part], verified: true },
            { jobId: `restore-${record.id}-${run}-${route.regionId}-${++jobs}` },
          );
          record.kvs += kvs;
        }
        return { value: undefined, covered: [part] };
      },
      async (done, total) => {
        Object.assign(record, { regionsDone: done, regionsTotal: total });
        await save();
      },
    );
  }

  /** `job` over every part of the backup's ranges, on the leader of the region holding it. */
  private async overBackup(
    meta: BackupMeta,
    job: (route: RegionRoute, part: KeyRange) => Promise<{ value: undefined; covered: KeyRange[] }>,
    onProgress: (done: number, total: number) => Promise<void>,
  ): Promise<void> {
    let [before, counted] = [0, 0];
    for (const { startKey, endKey } of meta.ranges) {
      await forEachRange(this.store, keyRange(startKey, endKey), job, (done, total) => {
        counted = before + total;
        return onProgress(before + done, counted);
      });
      before = counted;
    }
  }

  /**
   * Fails, before anything is written, when the backup's ranges hold a version committed after its
   * ts: restored versions would stay hidden under it. Each part of those ranges is asked of the leader
   * of the region holding it (a follower may lag), parts split or moved meanwhile again where they went.
   */
  private async refuseNewerVersions(
    meta: BackupMeta,
    onProgress: (done: number, total: number) => Promise<void>,
  ): Promise<void> {
    const ts = meta.endVersion;
    const newer: Array<{ key: Buffer; ts: Timestamp; regionId: RegionId }> = [];
    await this.overBackup(
      meta,
      async (route, part) => {
        const { found, covered } = await this.nodes.call(route.leader, 'newer-version', {
          regionId: route.regionId,
          range: part,
          ts,
        });
        if (found) newer.push({ ...found, regionId: route.regionId });
        return { value: undefined, covered };
      },
      onProgress,
    );
    const [first] = newer;
    if (!first) return;
    const others = newer.length > 1 ? ` (and in ${newer.length - 1} more regions)` : '';
    throw new FailedPreconditionError(
      `the cluster holds versions newer than the backup (ts ${ts}): key "${escapeKey(first.key)}" at ts ${first.ts} in region ${first.regionId.toString()}${others}; restored versions would stay hidden under them. Restore into a new cluster, or force the restore to leave the newer versions visible`,
      {
        backupTs: ts.toString(),
        regions: newer.map((f) => f.regionId.toString()),
        key: first.key.toString('base64'),
        ts: first.ts.toString(),
      },
    );
  }
}

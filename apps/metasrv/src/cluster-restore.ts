import {
  FailedPreconditionError,
  escapeKey,
  keyRange,
  rangesOverlap,
  type Timestamp,
} from '@regionstore/core';
import { readBackupMeta, verifyBackupFile } from '@regionstore/backup';
import { createStorage, type ExternalStorage } from '@regionstore/storage-backends';
import type { RegionRoute } from '@regionstore/supervisor';
import type { ClusterStore } from './cluster-store';
import type { NodeTaskClient } from './node-client';
import type { Operations, OperationRecord } from './operation-records';
import { forEachRegion } from './region-jobs';

export interface RestoreRecord extends OperationRecord {
  storage: string;
  /** Restore over versions newer than the backup (they stay visible) instead of refusing. */
  force?: boolean;
  phase: 'verify' | 'check' | 'write';
  filesTotal?: number;
  filesVerified: number;
  regionsTotal?: number;
  regionsDone: number;
  kvs: number;
}

/**
 * Restores a backup into the cluster. First every file is verified against the `backupmeta` (sha256,
 * KV count, block checksums): one bad file and nothing is written. Then one `restore` job per region
 * goes to its leader with only the files overlapping the region; the node writes the versions through
 * the region's write path at their original commit timestamps. Those stay hidden under any newer
 * version of their key, so before writing anything every region the backup touches is asked for a
 * version committed after the backup's ts: one, and the restore fails (`FailedPrecondition`) with
 * nothing written, unless `force` (then the newer versions stay visible).
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
    const routes = await this.store.routes();
    const filesOf = (range: RegionRoute['range']) =>
      meta.files.filter((f) => rangesOverlap(keyRange(f.startKey, f.endKey), range));
    if (!record.force) {
      record.phase = 'check';
      await save();
      await this.refuseNewerVersions(
        routes.filter((route) => filesOf(route.range).length > 0),
        meta.endVersion,
      );
    }
    Object.assign(record, { phase: 'write', regionsTotal: routes.length });
    await save();
    await forEachRegion(
      this.store,
      routes,
      async (route, attempt) => {
        const files = filesOf(route.range);
        if (files.length === 0) return;
        const { kvs } = await this.nodes.call(
          route.leader,
          'restore',
          // verified: every file passed above, so the node checks while it writes instead of reading twice
          { storage: record.storage, files, ranges: [route.range], verified: true },
          { jobId: `restore-${record.id}-${route.regionId}-${attempt}` },
        );
        record.kvs += kvs;
      },
      async () => {
        record.regionsDone++;
        await save();
      },
    );
  }

  /**
   * Fails, before anything is written, when a region the backup touches holds a version committed
   * after the backup's ts: restored versions would stay hidden under it.
   */
  private async refuseNewerVersions(routes: RegionRoute[], ts: Timestamp): Promise<void> {
    const found = await forEachRegion(
      this.store,
      routes,
      async (route) => {
        const { found } = await this.nodes.call(route.leader, 'newer-version', {
          regionId: route.regionId,
          range: route.range,
          ts,
        });
        return found && { ...found, regionId: route.regionId };
      },
      () => undefined,
    );
    const newer = found.filter((f) => f !== undefined);
    const [first] = newer;
    if (!first) return;
    throw new FailedPreconditionError(
      `the cluster holds versions newer than the backup (ts ${ts}): key "${escapeKey(first.key)}" at ts ${first.ts} in region ${first.regionId.toString()}, and ${newer.length - 1} more regions; restored versions would stay hidden under them. Restore into an empty cluster, or force the restore to keep the newer versions visible`,
      {
        backupTs: ts.toString(),
        regions: newer.map((f) => f.regionId.toString()),
        key: first.key.toString('base64'),
        ts: first.ts.toString(),
      },
    );
  }
}

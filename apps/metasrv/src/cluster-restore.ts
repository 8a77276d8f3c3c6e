import { keyRange, rangesOverlap } from '@regionstore/core';
import { readBackupMeta, verifyBackupFile } from '@regionstore/backup';
import { createStorage, type ExternalStorage } from '@regionstore/storage-backends';
import type { ClusterStore } from './cluster-store';
import type { NodeTaskClient } from './node-client';
import type { Operations, OperationRecord } from './operation-records';
import { forEachRegion } from './region-jobs';

export interface RestoreRecord extends OperationRecord {
  storage: string;
  phase: 'verify' | 'write';
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
 * the region's write path at their original commit timestamps. Meant for an empty cluster: where the
 * cluster already holds newer versions of a key, those stay visible.
 */
export class ClusterRestore {
  constructor(
    /** The records (`<prefix>:meta:restores` in Redis). */
    readonly operations: Operations<RestoreRecord>,
    private readonly store: ClusterStore,
    private readonly nodes: NodeTaskClient,
  ) {}

  start(id: string, storageUrl: string): Promise<{ record: RestoreRecord; done: Promise<RestoreRecord> }> {
    // A URL the backends cannot use fails here, before there is a record of it.
    const storage = createStorage(storageUrl);
    const record: RestoreRecord = {
      id,
      storage: storageUrl,
      status: 'Running',
      phase: 'verify',
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
    Object.assign(record, { phase: 'write', regionsTotal: routes.length });
    await save();
    await forEachRegion(
      this.store,
      routes,
      async (route, attempt) => {
        const files = meta.files.filter((f) => rangesOverlap(keyRange(f.startKey, f.endKey), route.range));
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
}

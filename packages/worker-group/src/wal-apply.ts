import {
  VersionWriter,
  VersionsAt,
  type KvReader,
  type MvccVersion,
  type WriteBatch,
} from '@regionstore/engine';
import type { Mutation, WalRecord } from '@regionstore/region-files';

/** Adds a write's versions to a batch (the live write path and WAL replay write the same thing). */
function addMutations(batch: WriteBatch, mutations: Mutation[], ts: bigint): void {
  const versions = new VersionsAt(ts);
  for (const m of mutations) versions.write(batch, m.key, m.op === 'put' ? m.value : undefined);
}

/**
 * Adds WAL records' versions to a batch, in order. Records of restored versions may commit below what
 * their keys hold, so then the engine's newest versions are read first (`engine` must have applied
 * everything before these records).
 */
export async function addRecords(engine: KvReader, batch: WriteBatch, records: WalRecord[]): Promise<void> {
  if (!records.some((r) => r.restored)) {
    for (const record of records) addMutations(batch, record.mutations, record.ts);
    return;
  }
  const writer = new VersionWriter(engine, batch);
  for (const record of records) {
    const versions = record.mutations.map((m): MvccVersion => ({
      key: m.key,
      ts: record.ts,
      value: m.op === 'put' ? m.value : undefined,
    }));
    if (record.restored) await writer.writeOlder(versions);
    else for (const version of versions) writer.write(version);
  }
}

import { RegionId } from '@regionstore/core';
import {
  CF_RAFT,
  PENDING_DELETE_KEYS,
  WriteBatch,
  pendingDeleteKey,
  type KvEngine,
} from '@regionstore/engine';
import { z } from 'zod';
import type { PendingDeleteRange } from './pending-delete-ranges';

const recordSchema = z.object({
  regionId: z.string(),
  start: z.base64(),
  end: z.base64(),
});

/**
 * Pending deletions kept in the `raft` CF, so a restart between a region leaving the node and its data
 * being deleted neither forgets the deletion (the data would stay forever) nor lets it run later over
 * a region opened again meanwhile (opening drains every overlapping record first).
 */
export class PersistedDeleteRanges {
  constructor(private readonly engine: KvEngine) {}

  async save(range: PendingDeleteRange): Promise<void> {
    await this.engine.put(
      CF_RAFT,
      pendingDeleteKey(range.startKey),
      Buffer.from(
        JSON.stringify({
          regionId: range.regionId.toString(),
          start: range.startKey.toString('base64'),
          end: range.endKey.toString('base64'),
        }),
      ),
    );
  }

  async remove(ranges: Array<Pick<PendingDeleteRange, 'startKey'>>): Promise<void> {
    if (ranges.length === 0) return;
    const batch = new WriteBatch();
    for (const range of ranges) batch.delete(CF_RAFT, pendingDeleteKey(range.startKey));
    await this.engine.write(batch);
  }

  /**
   * Every record, in start-key order. After a restart no engine snapshot is alive, so each range is
   * stale at once (sequence 0) and the first cleanup deletes it. A record that does not decode is
   * dropped: the range it named is at worst left as garbage, never deleted under a region.
   */
  async load(): Promise<PendingDeleteRange[]> {
    const out: PendingDeleteRange[] = [];
    const broken: Buffer[] = [];
    for await (const entry of this.engine.iterate(CF_RAFT, PENDING_DELETE_KEYS)) {
      const parsed = recordSchema.safeParse(safeUnpack(entry.value));
      if (!parsed.success) {
        broken.push(entry.key);
        continue;
      }
      out.push({
        regionId: RegionId.parse(parsed.data.regionId),
        startKey: Buffer.from(parsed.data.start, 'base64'),
        endKey: Buffer.from(parsed.data.end, 'base64'),
        staleSequence: 0,
      });
    }
    if (broken.length > 0) {
      const batch = new WriteBatch();
      for (const key of broken) batch.delete(CF_RAFT, key);
      await this.engine.write(batch);
    }
    return out;
  }
}

function safeUnpack(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
}

import {
  InvalidArgumentError,
  NotLeaderError,
  rangeContains,
  type KeyRange,
  type RegionId,
} from '@regionstore/core';
import type { RestoreSink } from '@regionstore/backup';
import type { CfName, KvEntry, MvccVersion } from '@regionstore/engine';
import type { WorkerGroup } from '@regionstore/worker-group';
import type { Mutation } from '@regionstore/region-files';

/**
 * Restored data goes through the write path of the regions this node leads (so it is in the WAL), at
 * the versions' original commit timestamps. Keys outside `ranges` belong to another job; a key inside
 * them whose region this node does not lead (any more) fails the job, so the metasrv retries it on the
 * new leader instead of a key being dropped.
 */
export class RegionWriteSink implements RestoreSink {
  written = 0;

  constructor(
    private readonly group: WorkerGroup,
    private readonly ranges: KeyRange[],
    private readonly nodeId: string,
  ) {}

  async writeVersions(versions: MvccVersion[]): Promise<void> {
    // One write per region and commit ts: a WAL entry carries a single timestamp.
    const writes = new Map<string, { regionId: RegionId; commitTs: bigint; mutations: Mutation[] }>();
    for (const version of versions) {
      if (!this.ranges.some((r) => rangeContains(r, version.key))) continue;
      const region = this.group
        .regions()
        .find((r) => r.role === 'Leader' && rangeContains(r.range, version.key));
      if (!region) {
        throw new NotLeaderError(
          `node ${this.nodeId} leads no region holding a key it was asked to restore`,
          {
            key: version.key.toString('base64'),
          },
        );
      }
      const id = `${region.regionId}@${version.ts}`;
      const write = writes.get(id) ?? { regionId: region.regionId, commitTs: version.ts, mutations: [] };
      write.mutations.push(
        version.value === undefined
          ? { op: 'delete', key: version.key }
          : { op: 'put', key: version.key, value: version.value },
      );
      writes.set(id, write);
    }
    await Promise.all([...writes.values()].map((w) => this.group.write(w)));
    for (const w of writes.values()) this.written += w.mutations.length;
  }

  async writeRaw(cf: CfName, _entries: KvEntry[]): Promise<void> {
    throw new InvalidArgumentError(
      `raw restore of CF '${cf}' through regions is not supported; restore into an engine`,
    );
  }
}

import {
  KeyNotInRangeError,
  MAX_TIMESTAMP,
  NotLeaderError,
  RegionNotFoundError,
  escapeKey,
  formatRange,
  intersectRanges,
  keyRange,
  rangeContains,
  type RegionId,
  type Timestamp,
} from '@regionstore/core';
import { mvccGet, mvccGetMany, mvccScan, type KvEngine } from '@regionstore/engine';
import type { WorkerGroup, WorkerRegion } from '@regionstore/worker-group';
import { LatestReads } from './latest-reads';
import type { RegionLeases } from './region-leases';

/** Reads are served by the leader only: a follower may lag behind the WAL. */
function leaderRegion(group: WorkerGroup, nodeId: string, regionId: RegionId): WorkerRegion {
  const region = group.getRegion(regionId);
  if (!region) {
    throw new RegionNotFoundError(`region ${regionId.toString()} is not open on node ${nodeId}`, {
      regionId: regionId.toString(),
    });
  }
  if (region.role !== 'Leader') {
    throw new NotLeaderError(`node ${nodeId} does not lead region ${regionId.toString()}`, {
      regionId: regionId.toString(),
    });
  }
  return region;
}

function checkKey(region: WorkerRegion, key: Buffer): void {
  if (!rangeContains(region.range, key)) {
    throw new KeyNotInRangeError(
      `key ${escapeKey(key)} is not in region ${region.regionId.toString()} ${formatRange(region.range)}`,
      { regionId: region.regionId.toString(), key: key.toString('base64') },
    );
  }
}

/** A read at a given ts (not at the latest one): the only kind the GC safepoint and max ts concern. */
const atTs = (ts: Timestamp | undefined): ts is Timestamp => ts !== undefined && ts !== MAX_TIMESTAMP;

/**
 * Reads of the regions this node leads. Each is answered only if the node still holds the region's
 * lease *after* reading: a node paused between the check and the read (or anywhere before the reply
 * leaves) may have been replaced meanwhile, and its data may be stale. A read at a ts is admitted by
 * the group's ReadTimestamps before (raising the max ts) and checked against the GC safepoint after.
 */
export class RegionReader {
  private readonly latest: LatestReads;

  constructor(
    private readonly group: () => WorkerGroup,
    private readonly engine: KvEngine,
    private readonly nodeId: string,
    private readonly leases: Pick<RegionLeases, 'check'>,
  ) {
    this.latest = new LatestReads(engine);
  }

  private leader(regionId: RegionId, ts?: Timestamp): WorkerRegion {
    const group = this.group();
    const region = leaderRegion(group, this.nodeId, regionId);
    this.leases.check(regionId, this.nodeId);
    if (atTs(ts)) group.readTimestamps.admit(ts);
    return region;
  }

  /** The read's answer, if the lease still held once it was read and GC left what it read alone. */
  private served<T>(regionId: RegionId, value: T, ts?: Timestamp): T {
    this.leader(regionId);
    if (atTs(ts)) this.group().readTimestamps.confirm(ts);
    return value;
  }

  async get(regionId: RegionId, key: Buffer, ts?: Timestamp): Promise<Buffer | undefined> {
    checkKey(this.leader(regionId, ts), key);
    const value = atTs(ts) ? await mvccGet(this.engine, key, ts) : await this.latest.get(key);
    return this.served(regionId, value, ts);
  }

  async batchGet(regionId: RegionId, keys: Buffer[], ts?: Timestamp): Promise<Array<Buffer | undefined>> {
    const region = this.leader(regionId, ts);
    for (const key of keys) checkKey(region, key);
    if (!atTs(ts)) return this.served(regionId, await this.latest.getMany(keys));
    // One engine snapshot, so every key is read at the same point.
    const snapshot = this.engine.snapshot();
    try {
      return this.served(regionId, await mvccGetMany(snapshot, keys, ts), ts);
    } finally {
      await snapshot.release();
    }
  }

  async scan(
    regionId: RegionId,
    options: { start: Buffer; end: Buffer; limit: number; reverse: boolean; ts?: Timestamp },
  ): Promise<Array<{ key: Buffer; value: Buffer }>> {
    const region = this.leader(regionId, options.ts);
    const range = intersectRanges(region.range, keyRange(options.start, options.end));
    if (!range) return [];
    const out: Array<{ key: Buffer; value: Buffer }> = [];
    for await (const entry of mvccScan(this.engine, range, options.ts, {
      limit: options.limit,
      reverse: options.reverse,
    })) {
      out.push({ key: entry.key, value: entry.value });
    }
    return this.served(regionId, out, options.ts);
  }
}

import {
  KeyNotInRangeError,
  MAX_TIMESTAMP,
  NotLeaderError,
  RegionNotFoundError,
  escapeKey,
  formatRange,
  intersectRanges,
  isValidRange,
  keyRange,
  rangeContains,
  rangeHoldsEnd,
  type KeyRange,
  type RegionId,
  type Timestamp,
} from '@regionstore/core';
import { mvccGet, mvccGetMany, mvccScan, type KvEngine } from '@regionstore/engine';
import type { WorkerGroup, WorkerRegion } from '@regionstore/worker-group';
import { LatestReads } from './latest-reads';
import type { RegionLeases } from './region-leases';
import { beginReplicaRead, endFollowerRead } from './replica-reads';

/** A replica read's answer and the ts it was served at. */
export interface AtTs<T> {
  value: T;
  readTs: Timestamp;
}

export interface ScanRequest {
  start: Buffer;
  end: Buffer;
  limit: number;
  reverse: boolean;
  ts?: Timestamp;
}

type Entry = { key: Buffer; value: Buffer };

/** A scan's page and the part of the asked range it covers: the region's share of it. */
export interface ScanAnswer {
  entries: Entry[];
  /** Absent only for an empty asked range. */
  scanned?: KeyRange;
}

/** Linearizable reads are served by the leader only: a follower may lag behind the WAL. */
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

/** `keys` as of `ts`, on one engine snapshot, so every key is read at the same point. */
async function getManyAt(
  engine: KvEngine,
  keys: Buffer[],
  ts: Timestamp,
): Promise<Array<Buffer | undefined>> {
  const snapshot = engine.snapshot();
  try {
    return await mvccGetMany(snapshot, keys, ts);
  } finally {
    await snapshot.release();
  }
}

/**
 * The live pairs of the part of the region's range the scan asks for, and that part: a page shorter
 * than asked ends the region's share, not the scan. The scan must begin in the region (reversed: end
 * in it); otherwise its first keys are another region's and a client with routes from before a split
 * or merge would skip them, so it is refused (`KeyNotInRange`) and the client routes again.
 */
async function scanRegion(engine: KvEngine, region: WorkerRegion, options: ScanRequest): Promise<ScanAnswer> {
  const asked = keyRange(options.start, options.end);
  if (!isValidRange(asked)) return { entries: [] };
  const anchored = options.reverse
    ? rangeHoldsEnd(region.range, asked.end)
    : rangeContains(region.range, asked.start);
  const scanned = anchored ? intersectRanges(region.range, asked) : undefined;
  if (!scanned) {
    throw new KeyNotInRangeError(
      `a scan of ${formatRange(asked)} does not ${options.reverse ? 'end' : 'start'} in region ${region.regionId.toString()} ${formatRange(region.range)}`,
      { regionId: region.regionId.toString() },
    );
  }
  const entries: Entry[] = [];
  for await (const entry of mvccScan(engine, scanned, options.ts, {
    limit: options.limit,
    reverse: options.reverse,
  })) {
    entries.push({ key: entry.key, value: entry.value });
  }
  return { entries, scanned };
}

/**
 * Reads of the regions this node leads. Each is answered only if the node still holds the region's
 * lease *after* reading: a node paused between the check and the read (or anywhere before the reply
 * leaves) may have been replaced meanwhile, and its data may be stale. A read at a ts is admitted by
 * the group's ReadTimestamps before (raising the max ts) and checked against the GC safepoint after.
 * Replica reads may be answered by a follower too, at a ts it has applied (see replica-reads.ts).
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
    return this.served(regionId, await getManyAt(this.engine, keys, ts), ts);
  }

  async scan(regionId: RegionId, options: ScanRequest): Promise<ScanAnswer> {
    const region = this.leader(regionId, options.ts);
    return this.served(regionId, await scanRegion(this.engine, region, options), options.ts);
  }

  /**
   * Follower reads (see replica-reads.ts): answered by a follower at a ts it has applied, without a
   * lease; by the leader as any read at a ts is. `ts` (default: the copy's safe ts) is what they ask.
   */
  replicaGet(regionId: RegionId, key: Buffer, ts?: Timestamp): Promise<AtTs<Buffer | undefined>> {
    return this.replica(
      regionId,
      ts,
      (readTs) => this.get(regionId, key, readTs),
      (region, readTs) => {
        checkKey(region, key);
        return mvccGet(this.engine, key, readTs);
      },
    );
  }

  replicaBatchGet(
    regionId: RegionId,
    keys: Buffer[],
    ts?: Timestamp,
  ): Promise<AtTs<Array<Buffer | undefined>>> {
    return this.replica(
      regionId,
      ts,
      (readTs) => this.batchGet(regionId, keys, readTs),
      (region, readTs) => {
        for (const key of keys) checkKey(region, key);
        return getManyAt(this.engine, keys, readTs);
      },
    );
  }

  replicaScan(regionId: RegionId, options: ScanRequest): Promise<AtTs<ScanAnswer>> {
    return this.replica(
      regionId,
      options.ts,
      (readTs) => this.scan(regionId, { ...options, ts: readTs }),
      (region, readTs) => scanRegion(this.engine, region, { ...options, ts: readTs }),
    );
  }

  private async replica<T>(
    regionId: RegionId,
    ts: Timestamp | undefined,
    lead: (readTs: Timestamp) => Promise<T>,
    follow: (region: WorkerRegion, readTs: Timestamp) => Promise<T>,
  ): Promise<AtTs<T>> {
    const group = this.group();
    const read = beginReplicaRead(group, this.nodeId, regionId, ts);
    if (read.leads) return { value: await lead(read.readTs), readTs: read.readTs };
    const value = await follow(read.region, read.readTs);
    endFollowerRead(group, this.nodeId, read);
    return { value, readTs: read.readTs };
  }
}

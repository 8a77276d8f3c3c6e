import {
  DataIsNotReadyError,
  MAX_TIMESTAMP,
  NotLeaderError,
  RegionNotFoundError,
  type KeyRange,
  type RegionId,
  type Timestamp,
} from '@regionstore/core';
import type { ConcurrencyManager } from '@regionstore/engine';
import type { WorkerGroup, WorkerRegion } from '@regionstore/worker-group';

/*
 * Follower reads (TiKV's replica read): a copy of a region answers at a ts it has fully applied, so
 * the answer is a consistent snapshot at that ts, but not linearizable (a write acknowledged a moment
 * ago may be above it). No lease is needed: nothing can commit at or below a follower's safe ts any
 * more, so the same read repeated anywhere returns the same.
 */

/** A region's copy on this node, chosen for a replica read, and the ts it answers at. */
export interface ReplicaRead {
  region: WorkerRegion;
  readTs: Timestamp;
  /** Its leader: it answers by the lease like any read (see RegionReader). */
  leads: boolean;
  /** The follower's reload count when the read began (see WorkerRegion.reloads). */
  reloads: number;
}

/** MAX_TIMESTAMP asks for the latest, which is what a replica read without a ts means. */
const requestedTs = (ts: Timestamp | undefined): Timestamp | undefined =>
  ts === undefined || ts === MAX_TIMESTAMP ? undefined : ts;

/**
 * The newest ts at which this leader's copy of `range` is complete: a fresh one unless a write of the
 * range is still in flight below it, then just below the oldest such write. A write's ts and its
 * intents are taken together, so every write below the answer is applied and every later one lands
 * above it.
 */
export function leaderReadTs(concurrency: ConcurrencyManager, range: KeyRange): Timestamp {
  let ts = concurrency.timestamps.next();
  for (let intent = concurrency.findIntentInRange(range, ts); intent;) {
    ts = intent.ts - 1n;
    intent = concurrency.findIntentInRange(range, ts);
  }
  return ts;
}

function notReady(region: WorkerRegion, nodeId: string, message: string, ts?: Timestamp): never {
  throw new DataIsNotReadyError(`region ${region.regionId.toString()} on node ${nodeId}: ${message}`, {
    regionId: region.regionId.toString(),
    safeTs: region.safeTs.toString(),
    ...(ts === undefined ? {} : { ts: ts.toString() }),
  });
}

/**
 * Picks the copy and ts of a replica read: the leader answers at `ts` or at its newest complete ts; a
 * follower at `ts` if it has applied that far (else DataIsNotReady), or at its safe ts. A follower
 * that knows no safe ts yet, or only one older than the GC safepoint, is not ready either: reading
 * there would answer nothing or TsTooOld for a ts the caller never asked for.
 */
export function beginReplicaRead(
  group: WorkerGroup,
  nodeId: string,
  regionId: RegionId,
  ts: Timestamp | undefined,
): ReplicaRead {
  const region = group.getRegion(regionId);
  if (!region) {
    throw new RegionNotFoundError(`region ${regionId.toString()} is not open on node ${nodeId}`, {
      regionId: regionId.toString(),
    });
  }
  const wanted = requestedTs(ts);
  const reloads = region.reloads;
  if (region.role === 'Leader') {
    const readTs = wanted ?? leaderReadTs(group.concurrency, region.range);
    return { region, readTs, leads: true, reloads };
  }
  // A downgrading leader is handing the region over and tails no WAL: nothing keeps its copy current.
  if (region.role !== 'Follower') {
    throw new NotLeaderError(`region ${regionId.toString()} on node ${nodeId} is ${region.role}`, {
      regionId: regionId.toString(),
    });
  }
  if (reloads % 2 === 1) notReady(region, nodeId, 'it is reloading from the latest flush');
  const safeTs = region.safeTs;
  if (wanted !== undefined) {
    if (wanted > safeTs) notReady(region, nodeId, `read ts ${wanted} is above its safe ts ${safeTs}`, wanted);
    group.readTimestamps.confirm(wanted); // TsTooOld below the GC safepoint
    return { region, readTs: wanted, leads: false, reloads };
  }
  if (safeTs === 0n) notReady(region, nodeId, 'it has no safe ts yet');
  if (safeTs < group.gcSafePoint) {
    notReady(region, nodeId, `its safe ts ${safeTs} is below the GC safepoint ${group.gcSafePoint}`);
  }
  return { region, readTs: safeTs, leads: false, reloads };
}

/**
 * A follower's answer stands if the copy it read is still the one that began the read (not closed,
 * not reloaded from the latest flush meanwhile) and GC has left the versions it read alone.
 */
export function endFollowerRead(group: WorkerGroup, nodeId: string, read: ReplicaRead): void {
  const regionId = read.region.regionId;
  if (group.getRegion(regionId) !== read.region) {
    throw new RegionNotFoundError(`region ${regionId.toString()} closed on node ${nodeId} while read`, {
      regionId: regionId.toString(),
    });
  }
  if (read.region.reloads !== read.reloads) {
    notReady(read.region, nodeId, 'it reloaded from the latest flush while read', read.readTs);
  }
  group.readTimestamps.confirm(read.readTs);
}

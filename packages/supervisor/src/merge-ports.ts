import type { KeyRange, RegionId } from '@regionstore/core';
import type { Epoch } from '@regionstore/protocol';
import type { RegionRoute, RouteStore } from './migration-ports';
import type { Peer } from './peer';

// What a merge procedure needs from outside the supervisor: the metasrv implements these over Redis,
// BullMQ and the object store.

/** The route table's part in a merge. */
export interface MergeRouteStore extends Pick<RouteStore, 'update'> {
  get(regionId: RegionId): Promise<RegionRoute | undefined>;
  /** Writes the target's route and deletes the source's at once (one MULTI). */
  putMerge(target: RegionRoute, source: RegionId): Promise<void>;
  /** Deletes what is left of a region merged away: its WAL, and its flushes in the object store. */
  retireRegion(regionId: RegionId): Promise<void>;
}

export interface MergeRegionsRequest {
  target: RegionId;
  targetRange: KeyRange;
  targetEpoch: Epoch;
  source: RegionId;
  sourceRange: KeyRange;
  sourceEpoch: Epoch;
  /** The target's epoch after the merge. */
  epoch: Epoch;
}

/** The node-side steps of a merge (BullMQ jobs on the leader's queue, each idempotent). */
export interface MergeNodeClient {
  /** Merges the source into the target on their leader and flushes the target (WorkerGroup.mergeRegions). */
  mergeRegions(peer: Peer, request: MergeRegionsRequest): Promise<{ lastEntryId: number }>;
  closeRegion(peer: Peer, regionId: RegionId, epoch: Epoch): Promise<void>;
}

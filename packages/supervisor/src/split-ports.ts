import type { KeyRange, RegionId } from '@regionstore/core';
import type { Epoch } from '@regionstore/protocol';
import type { RegionRoute, RouteStore } from './migration-ports';
import type { Peer, PeerLookup } from './peer';

// What a split procedure needs from outside the supervisor: the metasrv implements these over Redis,
// BullMQ and the object store.

/** The route table's part in a split. */
export interface SplitRouteStore extends Pick<RouteStore, 'update'> {
  get(regionId: RegionId): Promise<RegionRoute | undefined>;
  /** A region id no region had (PD allocates them): the child's. */
  allocateRegionId(tableId: number): Promise<RegionId>;
  /** Writes both routes at once (one Redis command): no reader sees one without the other. */
  putSplit(parent: RegionRoute, child: RegionRoute): Promise<void>;
  /** Deletes a region no route names: its WAL, and its flushes in the object store. */
  retireRegion(regionId: RegionId): Promise<void>;
}

export interface SplitRegionRequest {
  regionId: RegionId;
  /** The parent's route range and epoch, to open it from should its node have restarted. */
  range: KeyRange;
  epoch: Epoch;
  splitKey: Buffer;
  child: RegionId;
  newEpoch: Epoch;
  childEpoch: Epoch;
}

/** The node-side steps of a split (BullMQ jobs on the leader's queue, each idempotent). */
export interface SplitNodeClient {
  /** A key near the middle of the region's data by size; undefined when it holds too little to split. */
  splitKey(peer: Peer, regionId: RegionId): Promise<Buffer | undefined>;
  /** Splits the region on its leader and flushes both halves (WorkerGroup.splitRegion). */
  splitRegion(peer: Peer, request: SplitRegionRequest): Promise<{ lastEntryId: number }>;
  /** Closes and destroys a copy of the region on the node (a follower of the range before the split). */
  closeRegion(peer: Peer, regionId: RegionId, epoch: Epoch): Promise<void>;
}

/** What the procedure asks when the leader stopped answering. */
export interface SplitObservers extends PeerLookup {
  isAlive(nodeId: string): Promise<boolean>;
  /** The epoch version of the region's latest flush manifest (undefined: none). */
  flushedEpochVersion(regionId: RegionId): Promise<number | undefined>;
}

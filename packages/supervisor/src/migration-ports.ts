import type { KeyRange, RegionId } from '@regionstore/core';
import type { Epoch } from '@regionstore/protocol';
import type { Peer } from './peer';

// What a migration procedure needs from outside the supervisor (routes, nodes, lease expiry, WAL
// fences): the metasrv implements these over Redis and BullMQ. Starting a migration is
// migration-submitter.ts.

export type RouteState = 'Normal' | 'Downgrading';

/** Where a region lives, as the metasrv records it. */
export interface RegionRoute {
  regionId: RegionId;
  range: KeyRange;
  leader: string;
  epoch: Epoch;
  state: RouteState;
  /** Nodes holding a follower (tailing the WAL), never the leader's; absent: none. */
  followers?: string[];
}

/** The cluster's route table (Redis in the metasrv). */
export interface RouteStore {
  get(regionId: RegionId): Promise<RegionRoute | undefined>;
  /**
   * Applies `change` to the route as stored at that moment (no concurrent change lost); false when
   * the route is gone or, given `ifEpochVersion`, its range changed since (a split or merge).
   */
  update(regionId: RegionId, change: RouteChange, ifEpochVersion?: number): Promise<boolean>;
}

/**
 * What an update sets, or a function of the route as stored that says it (none: leave the route as
 * it is, and the update answers false).
 */
export type RouteChange =
  | Partial<Pick<RegionRoute, 'leader' | 'epoch' | 'state' | 'followers'>>
  | ((
      current: RegionRoute,
    ) => Partial<Pick<RegionRoute, 'leader' | 'epoch' | 'state' | 'followers'>> | undefined);

/**
 * The node-side steps of a migration. The metasrv implements them as BullMQ jobs on the node's
 * `node-<id>` queue; each must be idempotent, since a resumed procedure may repeat the last one.
 */
export interface RegionNodeClient {
  /** Opens the region on the node as a follower (the candidate). */
  openCandidate(peer: Peer, region: { regionId: RegionId; range: KeyRange; epoch: Epoch }): Promise<void>;
  /**
   * Stops the leader taking writes; resolves with its last WAL entry id. `epoch` is the placement the
   * region moves from: a copy at a newer one refuses (a stale downgrade).
   */
  downgradeLeader(peer: Peer, regionId: RegionId, epoch: Epoch): Promise<{ lastEntryId: number }>;
  /** Replays the WAL to its end on the candidate and makes it the writable leader at `epoch`. */
  upgradeCandidate(peer: Peer, regionId: RegionId, epoch: Epoch): Promise<{ lastEntryId: number }>;
  /**
   * Closes the region on the node and destroys its data there later; `epoch` is the placement that
   * replaces the node's, below which the node refuses to open the region again.
   */
  closeRegion(peer: Peer, regionId: RegionId, epoch: Epoch): Promise<void>;
}

/**
 * The region leases the metasrv granted: how long a node may still serve a region it was told it
 * leads. A region's new leader must not serve before the old leader's lease has run out.
 */
export interface LeaseExpiry {
  remainingMs(nodeId: string, regionId: RegionId): number;
}

/** Moves a region's WAL fence (the LogStore's `setFence`). */
export interface FenceStore {
  setFence(regionId: RegionId, fence: { nodeId: string; epoch: number }): Promise<void>;
}

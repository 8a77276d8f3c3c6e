import type { RegionId } from '@regionstore/core';

/** A storage node as the metasrv addresses it. */
export interface Peer {
  id: string;
  address: string;
}

export interface RegionMigrationTask {
  regionId: RegionId;
  fromPeer: Peer;
  toPeer: Peer;
  timeoutMs: number;
}

/**
 * Starts region migrations. The supervisor only needs these two calls; the procedure that moves the
 * region implements them. `submit` throws MigrationRunning when one already runs for the region and
 * TableRouteNotFound when the region no longer exists.
 */
export interface RegionMigrationSubmitter {
  submit(task: RegionMigrationTask): Promise<void>;
  isMigrating(regionId: RegionId): boolean;
}

/** Finds a node by id; undefined when the node is unknown. */
export interface PeerLookup {
  node(nodeId: string): Promise<Peer | undefined>;
}

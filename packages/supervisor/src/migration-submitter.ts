import type { RegionId } from '@regionstore/core';
import type { Peer } from './peer';

export interface RegionMigrationTask {
  regionId: RegionId;
  fromPeer: Peer;
  toPeer: Peer;
  timeoutMs: number;
}

/**
 * Starts region migrations: what the supervisor and the balancer ask of them. The migration manager
 * implements it (the procedure's own needs are in migration-ports.ts). `submit` throws
 * MigrationRunning when one already runs for the region and TableRouteNotFound when the region no
 * longer exists.
 */
export interface RegionMigrationSubmitter {
  submit(task: RegionMigrationTask): Promise<void>;
  isMigrating(regionId: RegionId): boolean;
}

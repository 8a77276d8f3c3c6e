import type { RegionId } from '@regionstore/core';
import type { DetectingRegion, RegionFailureDetector } from './region-failure-detector';

/** What a node's heartbeat tells the supervisor: which regions it serves, and when. */
export interface DatanodeHeartbeat {
  nodeId: string;
  regions: RegionId[];
  timestampMs: number;
  /** The regions it follows, with the last WAL entry each applied (failover picks the furthest). */
  followers?: Array<{ regionId: RegionId; lastEntryId: number }>;
}

export type SupervisorEvent =
  | { type: 'Tick' }
  | { type: 'RegisterFailureDetectors'; regions: DetectingRegion[] }
  | { type: 'DeregisterFailureDetectors'; regions: DetectingRegion[] }
  | { type: 'HeartbeatArrived'; heartbeat: DatanodeHeartbeat }
  | { type: 'Clear' }
  /** Hands a copy of the detectors to `reply`; for tests and the admin API. */
  | { type: 'Dump'; reply: (detectors: RegionFailureDetector) => void };

export const SUPERVISOR_CHANNEL_CAPACITY = 1024;

import type { Channel } from '@regionstore/core';
import type { DatanodeHeartbeat, SupervisorEvent } from './events';
import type { DetectingRegion } from './region-failure-detector';

/** Lets DDL and migrations start or stop watching regions. */
export class RegionFailureDetectorControl {
  constructor(private readonly channel: Channel<SupervisorEvent>) {}

  registerFailureDetectors(regions: DetectingRegion[]): Promise<void> {
    return this.channel.send({ type: 'RegisterFailureDetectors', regions });
  }

  deregisterFailureDetectors(regions: DetectingRegion[]): Promise<void> {
    return this.channel.send({ type: 'DeregisterFailureDetectors', regions });
  }
}

/** Forwards node heartbeats (from the metasrv queue) to the supervisor. */
export class HeartbeatAcceptor {
  constructor(private readonly channel: Channel<SupervisorEvent>) {}

  accept(heartbeat: DatanodeHeartbeat): Promise<void> {
    return this.channel.send({ type: 'HeartbeatArrived', heartbeat });
  }
}

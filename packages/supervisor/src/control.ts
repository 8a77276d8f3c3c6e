import type { Channel } from '@regionstore/core';
import type { DatanodeHeartbeat, SupervisorEvent } from './events';
import type { DetectingRegion, RegionFailureDetector } from './region-failure-detector';

/** Lets DDL and migrations start or stop watching regions, and others look at the detectors. */
export class RegionFailureDetectorControl {
  constructor(private readonly channel: Channel<SupervisorEvent>) {}

  /** A copy of the detectors, made by the supervisor's own loop (so no read races its updates). */
  dump(): Promise<RegionFailureDetector> {
    return new Promise((resolve, reject) => {
      this.channel.send({ type: 'Dump', reply: resolve }).catch(reject);
    });
  }

  /** Per node, the highest phi of its regions' detectors at `nowMs`. */
  async phiByNode(nowMs: number): Promise<Map<string, number>> {
    const phi = new Map<string, number>();
    for (const { ident, detector } of await this.dump()) {
      phi.set(ident.nodeId, Math.max(phi.get(ident.nodeId) ?? 0, detector.phi(nowMs)));
    }
    return phi;
  }

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

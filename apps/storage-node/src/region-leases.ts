import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import { NotLeaderError, RegionId } from '@regionstore/core';
import type { LeaseGrant } from '@regionstore/protocol';

/** Heartbeats remembered for matching grants; older ones are answered too late to matter. */
const REMEMBERED_HEARTBEATS = 32;

/**
 * The region leases this node holds, granted by the metasrv in answer to heartbeats. A lease runs
 * from the moment the heartbeat it answers was sent, on this process's monotonic clock (which keeps
 * counting through a SIGSTOP), so a node that was paused, partitioned or slow finds it expired when
 * it resumes; the metasrv lets another node serve the region only after that moment has passed.
 */
export class RegionLeases {
  private readonly incarnation = randomUUID();
  private counter = 0;
  private readonly sentAt = new Map<string, number>();
  private readonly expiresAt = new Map<bigint, number>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Names the next heartbeat and remembers when it left. */
  nextHeartbeat(): string {
    const seq = `${this.incarnation}:${++this.counter}`;
    this.sentAt.set(seq, this.now());
    if (this.sentAt.size > REMEMBERED_HEARTBEATS) {
      this.sentAt.delete(this.sentAt.keys().next().value!);
    }
    return seq;
  }

  /** Takes a grant; one answering a heartbeat this process did not send (or forgot) is ignored. */
  accept(grant: LeaseGrant): number {
    const sent = this.sentAt.get(grant.seq);
    if (sent === undefined) return 0;
    const until = sent + grant.leaseMs;
    for (const id of grant.regions) {
      const key = RegionId.parse(id).value;
      if ((this.expiresAt.get(key) ?? 0) < until) this.expiresAt.set(key, until);
    }
    return grant.regions.length;
  }

  holds(regionId: RegionId): boolean {
    return (this.expiresAt.get(regionId.value) ?? 0) > this.now();
  }

  /** Milliseconds left on a region's lease (0 when it has none). */
  remainingMs(regionId: RegionId): number {
    return Math.max(0, (this.expiresAt.get(regionId.value) ?? 0) - this.now());
  }

  /** Throws NotLeader unless the node holds the region's lease now. */
  check(regionId: RegionId, nodeId: string): void {
    if (!this.holds(regionId)) {
      throw new NotLeaderError(
        `node ${nodeId} holds no lease on region ${regionId.toString()}: another node may lead it now`,
        { regionId: regionId.toString(), reason: 'LeaseExpired' },
      );
    }
  }
}

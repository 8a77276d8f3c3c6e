import type { RegionId } from '@regionstore/core';
import { estimatedSize, type WorkerRequest } from './requests';

export type StalledWrite = Extract<WorkerRequest, { kind: 'write' }>;

/**
 * Writes held back while the node's write buffer is full, per region with their estimated size
 * (GreptimeDB's StalledRequests). They are retried when any flush finishes.
 */
export class StalledRequests {
  private readonly requests = new Map<bigint, { size: number; writes: StalledWrite[] }>();
  /** Estimated size of every stalled write. */
  estimatedSize = 0;

  append(writes: StalledWrite[]): void {
    for (const write of writes) this.push(write);
  }

  push(write: StalledWrite): void {
    const key = write.request.regionId.value;
    const entry = this.requests.get(key) ?? { size: 0, writes: [] };
    const size = estimatedSize(write.request);
    entry.size += size;
    entry.writes.push(write);
    this.requests.set(key, entry);
    this.estimatedSize += size;
  }

  /** Takes the stalled writes of one region. */
  remove(regionId: RegionId): StalledWrite[] {
    const entry = this.requests.get(regionId.value);
    if (!entry) return [];
    this.requests.delete(regionId.value);
    this.estimatedSize -= entry.size;
    return entry.writes;
  }

  /** Takes every stalled write, oldest region first. */
  takeAll(): StalledWrite[] {
    const out: StalledWrite[] = [];
    for (const entry of this.requests.values()) out.push(...entry.writes);
    this.requests.clear();
    this.estimatedSize = 0;
    return out;
  }

  stalledCount(): number {
    let count = 0;
    for (const entry of this.requests.values()) count += entry.writes.length;
    return count;
  }
}

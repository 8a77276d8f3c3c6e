import { performance } from 'node:perf_hooks';
import type { RegionId, Timestamp } from '@regionstore/core';
import type { RedisClient } from '@regionstore/runtime';
import { leaseGrantKey, leaseGrantSchema, metasrvLeaderKey } from '@regionstore/protocol';
import type { z } from 'zod';
import type { LeaseExpiry } from '@regionstore/supervisor';

// Written only while this instance holds the metasrv leader key: a deposed leader that resumes after
// a pause cannot hand out a lease its successor does not know of.
const GRANT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
`;

/** A heartbeat being answered: from its start, the node may end up holding these regions' leases. */
export interface PendingGrant {
  readonly nodeId: string;
  readonly at: number;
  readonly claimed: ReadonlySet<bigint>;
}

/**
 * The region leases this metasrv grants in answer to heartbeats, and how long each may still run.
 * A node's lease starts when it sent the heartbeat, which is before the metasrv began answering it
 * (`at`), so `at + leaseMs` (plus a margin for clock-rate drift) bounds it from above. Answers being
 * computed count from their start, so a migration never misses a grant being written as it looks.
 * A new leader knows nothing of its predecessor's grants and assumes one was made as it took over.
 */
export class RegionLeaseGrants implements LeaseExpiry {
  private readonly granted = new Map<string, Map<bigint, number>>();
  private readonly pending = new Set<PendingGrant>();
  private electedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly instanceId: string,
    readonly leaseMs: number,
    private readonly marginMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  onElected(): void {
    this.electedAt = this.now();
    this.granted.clear();
  }

  /** Starts answering a heartbeat in which the node claims to lead `claimed`. */
  begin(nodeId: string, claimed: RegionId[]): PendingGrant {
    const pending = { nodeId, at: this.now(), claimed: new Set(claimed.map((id) => id.value)) };
    this.pending.add(pending);
    return pending;
  }

  /**
   * Writes the grant for the regions the node may serve, with the GC safepoint when there is one; false
   * when this metasrv no longer leads.
   */
  async grant(
    pending: PendingGrant,
    seq: string,
    regions: RegionId[],
    gcSafePoint?: Timestamp,
  ): Promise<boolean> {
    const grant: z.input<typeof leaseGrantSchema> = {
      seq,
      leaseMs: this.leaseMs,
      regions: regions.map((id) => id.toString()),
      ...(gcSafePoint ? { gcSafePoint: gcSafePoint.toString() } : {}),
    };
    const written = await this.redis.eval(
      GRANT,
      2,
      metasrvLeaderKey(this.prefix),
      leaseGrantKey(this.prefix, pending.nodeId),
      this.instanceId,
      JSON.stringify(grant),
      String(this.leaseMs * 4),
    );
    if (Number(written) !== 1) return false;
    let node = this.granted.get(pending.nodeId);
    if (!node) this.granted.set(pending.nodeId, (node = new Map()));
    for (const id of regions) node.set(id.value, Math.max(node.get(id.value) ?? 0, pending.at));
    return true;
  }

  end(pending: PendingGrant): void {
    this.pending.delete(pending);
  }

  remainingMs(nodeId: string, regionId: RegionId): number {
    let from = Math.max(this.electedAt, this.granted.get(nodeId)?.get(regionId.value) ?? 0);
    for (const p of this.pending) {
      if (p.nodeId === nodeId && p.claimed.has(regionId.value)) from = Math.max(from, p.at);
    }
    return Math.max(0, from + this.leaseMs + this.marginMs - this.now());
  }
}

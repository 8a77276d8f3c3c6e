import { z } from 'zod';
import { clusterKey } from './cluster-keys';
import { timestampCodec } from './codecs';

/**
 * The metasrv's answer to a node's heartbeat: the regions the node may serve. The node holds each one
 * for `leaseMs` from the moment it *sent* heartbeat `seq` (measured on its own monotonic clock), so the
 * lease always ends before the metasrv's record of it does. `gcSafePoint`: the cluster GC safepoint
 * (decimal), below which the node may collect MVCC versions.
 */
export const leaseGrantSchema = z.object({
  seq: z.string(),
  leaseMs: z.number().int().positive(),
  regions: z.array(z.string()),
  gcSafePoint: timestampCodec.optional(),
});
export type LeaseGrant = z.output<typeof leaseGrantSchema>;

/** Where the metasrv leader writes a node's latest grant. */
export function leaseGrantKey(prefix: string, nodeId: string): string {
  return clusterKey(prefix, 'meta', 'lease', nodeId);
}

/** The metasrv leader's election key; a grant is written only while it names the writer. */
export function metasrvLeaderKey(prefix: string): string {
  return clusterKey(prefix, 'meta', 'leader');
}

import { ZERO_TIMESTAMP, parseTimestamp, type Timestamp } from '@regionstore/core';
import { z } from 'zod';
import { gcSafePointKey } from './cluster-keys';
import { timestampCodec } from './codecs';

/** `GET /admin/gc`: the cluster GC safepoint and the service safepoints that hold it back. */
export const gcStatusSchema = z.strictObject({
  safePoint: timestampCodec,
  /** Milliseconds since the safepoint's physical time; null before the first one. */
  ageMs: z.number().nullable(),
  lifeTimeMs: z.number().int().nonnegative(),
  services: z.array(
    z.strictObject({ serviceId: z.string(), safePoint: timestampCodec, expiresAt: z.iso.datetime() }),
  ),
});
export type GcStatusBody = z.output<typeof gcStatusSchema>;

/**
 * The cluster GC safepoint as Redis holds it at `gcSafePointKey` (zero before the metasrv first moved
 * it). What a node takes before it serves reads at a ts, and a new metasrv leader before it grants.
 */
export async function readGcSafePoint(
  redis: { get(key: string): Promise<string | null> },
  prefix: string,
): Promise<Timestamp> {
  const stored = await redis.get(gcSafePointKey(prefix));
  return stored ? parseTimestamp(stored) : ZERO_TIMESTAMP;
}

import { z } from 'zod';
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

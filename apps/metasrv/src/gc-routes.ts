import { parseBody } from '@regionstore/http';
import { gcStatusSchema, timestampCodec } from '@regionstore/protocol';
import { z } from 'zod';
import type { AdminRoutes } from './admin-routes';
import type { GcSafePoints, GcStatus } from './gc-safe-points';

const serviceId = z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'service id: 1-128 of A-Z a-z 0-9 _ . : -');
const registerSchema = z.strictObject({
  serviceId,
  safePoint: timestampCodec,
  ttlMs: z
    .number()
    .int()
    .positive()
    .max(7 * 24 * 3600_000),
});

function gcStatusJson(status: GcStatus): z.input<typeof gcStatusSchema> {
  return {
    safePoint: status.safePoint.toString(),
    ageMs: status.ageMs ?? null,
    lifeTimeMs: status.lifeTimeMs,
    services: status.services.map((s) => ({
      serviceId: s.serviceId,
      safePoint: s.safePoint.toString(),
      expiresAt: new Date(s.expiresAtMs).toISOString(),
    })),
  };
}

/**
 * `/admin/gc`: the GC safepoint and the service safepoints holding it back; services (a backup tool
 * of one's own, a change feed) register theirs with a TTL and renew it, and remove it when done.
 */
export function gcRoutes(gc: GcSafePoints): AdminRoutes {
  return {
    name: 'gc',
    install({ app }) {
      app.get('/admin/gc', async () => gcStatusJson(await gc.status()));
      app.post('/admin/gc/service-safepoints', async (request) => {
        const body = parseBody(registerSchema, request.body);
        await gc.register(body.serviceId, body.safePoint, body.ttlMs);
        return gcStatusJson(await gc.status());
      });
      app.delete('/admin/gc/service-safepoints/:serviceId', async (request) => {
        const { serviceId: id } = parseBody(z.strictObject({ serviceId }), request.params);
        await gc.unregister(id);
        return gcStatusJson(await gc.status());
      });
    },
  };
}

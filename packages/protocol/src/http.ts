import { errorFromBody, type RegionStoreError } from '@regionstore/core';
import { z } from 'zod';

/** The body of every failed HTTP call: `{code, message, details}`. */
export const errorBodySchema = z.object({
  code: z.string(),
  message: z.string(),
  details: z.record(z.string(), z.unknown()).default({}),
});
export type ErrorBodyWire = z.output<typeof errorBodySchema>;

/** Statuses a server that is going away, or a proxy in front of one, answers with a body of its own. */
const UNAVAILABLE = [502, 503, 504];

/**
 * Turns a failed response body into the typed error. A 502/503/504 with a body not ours (a node
 * closing its HTTP server, a proxy that lost it) is `ServerIsBusy` with the `status` (retried; the
 * request may have reached the node); anything else unparseable becomes Internal.
 */
export function errorFromResponse(status: number, body: unknown): RegionStoreError {
  const parsed = errorBodySchema.safeParse(body);
  if (parsed.success) return errorFromBody(parsed.data);
  if (UNAVAILABLE.includes(status)) {
    return errorFromBody({
      code: 'ServerIsBusy',
      message: `HTTP ${status} from a server going away or a proxy in front of it`,
      details: { status },
    });
  }
  return errorFromBody({
    code: 'Internal',
    message: `HTTP ${status} with an unexpected body`,
    details: { status },
  });
}

import { errorFromBody, type RegionStoreError } from '@regionstore/core';
import { z } from 'zod';

/** The body of every failed HTTP call: `{code, message, details}`. */
export const errorBodySchema = z.object({
  code: z.string(),
  message: z.string(),
  details: z.record(z.string(), z.unknown()).default({}),
});
export type ErrorBodyWire = z.output<typeof errorBodySchema>;

/** Turns a failed response body into the typed error; anything unparseable becomes Internal. */
export function errorFromResponse(status: number, body: unknown): RegionStoreError {
  const parsed = errorBodySchema.safeParse(body);
  if (parsed.success) return errorFromBody(parsed.data);
  return errorFromBody({
    code: 'Internal',
    message: `HTTP ${status} with an unexpected body`,
    details: { status },
  });
}

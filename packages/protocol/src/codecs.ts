import { RegionId, checkTimestamp, type Timestamp } from '@regionstore/core';
import { z } from 'zod';

/**
 * JSON forms of the domain types. Each is a zod codec: `decode` turns wire JSON into the domain value,
 * `encode` the reverse, so one definition serves both ends of a queue or HTTP call.
 */

/** Bytes on the wire: raw in msgpack bodies (the default), base64 in JSON ones. */
type WireBytes = Uint8Array | string;

/** What is wrong with `input` as wire bytes, or undefined if nothing is. */
function bytesProblem(input: unknown): string | undefined {
  if (input instanceof Uint8Array) return undefined;
  if (typeof input !== 'string') return 'expected bytes (raw in msgpack, base64 in JSON)';
  return z.regexes.base64.test(input) ? undefined : 'Invalid base64-encoded string';
}

/** Wire bytes as a Buffer: a Buffer (what msgpackr gives) as it is, without a view per field. */
function toBuffer(input: WireBytes): Buffer {
  if (typeof input === 'string') return Buffer.from(input, 'base64');
  return Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
}

/**
 * Bytes, checked by one predicate rather than a union of two schemas: this runs for every key and
 * value of every request, and the union with a view per field cost about 0.6 µs per mutation.
 */
export const bytesCodec = z.codec(
  z.custom<WireBytes>((input) => bytesProblem(input) === undefined, {
    error: (issue) => bytesProblem(issue.input),
  }),
  z.custom<Buffer>(), // what `decode` returns: nothing to check
  { decode: toBuffer, encode: (buf) => buf.toString('base64') },
);

type WireMutation = { op: 'put'; key: WireBytes; value: WireBytes } | { op: 'delete'; key: WireBytes };
type Mutation = { op: 'put'; key: Buffer; value: Buffer } | { op: 'delete'; key: Buffer };

/**
 * A write's mutation, `{op: 'put', key, value}` or `{op: 'delete', key}`, checked by one function
 * instead of a discriminated union of objects with a bytes codec per field: a write carries up to
 * 10,000 of them and the storage node checks each (0.6–0.8 → about 0.2 µs per mutation). Each problem
 * is named at its field, as a schema per field would.
 */
export const mutationCodec = z.codec(
  z.custom<WireMutation>().superRefine((input, ctx) => {
    if (input === null || typeof input !== 'object') {
      ctx.addIssue({ code: 'custom', message: "expected a mutation {op: 'put' | 'delete', key, value?}" });
      return;
    }
    const m = input as Record<string, unknown>;
    if (m.op !== 'put' && m.op !== 'delete')
      ctx.addIssue({ code: 'custom', path: ['op'], message: "expected 'put' or 'delete'" });
    const fields = m.op === 'put' ? ['key', 'value'] : ['key'];
    for (const field of fields) {
      const problem = bytesProblem(m[field]);
      if (problem) ctx.addIssue({ code: 'custom', path: [field], message: problem });
    }
  }),
  z.custom<Mutation>(), // what `decode` returns: nothing to check
  {
    decode: (m): Mutation =>
      m.op === 'put'
        ? { op: 'put', key: toBuffer(m.key), value: toBuffer(m.value) }
        : { op: 'delete', key: toBuffer(m.key) },
    encode: (m): WireMutation =>
      m.op === 'put'
        ? { op: 'put', key: m.key.toString('base64'), value: m.value.toString('base64') }
        : { op: 'delete', key: m.key.toString('base64') },
  },
);

/** RegionId as `tableId:regionNumber`. */
export const regionIdCodec = z.codec(
  z.string().regex(/^\d{1,10}:\d{1,10}$/, 'expected tableId:regionNumber'),
  z.instanceof(RegionId),
  {
    decode: (text, ctx) => {
      try {
        return RegionId.parse(text);
      } catch (err) {
        ctx.issues.push({ code: 'custom', input: text, message: (err as Error).message });
        return z.NEVER;
      }
    },
    encode: (id) => id.toString(),
  },
);

/** A 64-bit hybrid-logical timestamp as a decimal string (JSON numbers lose bits past 2^53). */
export const timestampCodec = z.codec(
  z.string().regex(/^\d{1,20}$/, 'expected a decimal timestamp'),
  z.bigint(),
  {
    decode: (text, ctx) => {
      const ts: Timestamp = BigInt(text);
      try {
        return checkTimestamp(ts);
      } catch (err) {
        ctx.issues.push({ code: 'custom', input: text, message: (err as Error).message });
        return z.NEVER;
      }
    },
    encode: (ts) => ts.toString(),
  },
);

/** Storage node ids appear in queue names, so they stay within a safe alphabet. */
export const nodeIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'node id: 1-64 of A-Z a-z 0-9 _ -');

/** A region's epoch: `version` grows on range changes, `confVer` on placement changes. */
export const epochSchema = z.strictObject({
  version: z.number().int().nonnegative(),
  confVer: z.number().int().nonnegative(),
});
export type Epoch = z.output<typeof epochSchema>;

export const keyRangeSchema = z.strictObject({ start: bytesCodec, end: bytesCodec });

/** A WAL entry id: the region's log index, 1 for the first entry; 0 means "before the first entry". */
export const entryIdSchema = z.number().int().nonnegative();

export const regionStateSchema = z.enum(['Normal', 'Applying', 'Opening', 'Downgrading', 'Tombstone']);
export type RegionState = z.output<typeof regionStateSchema>;

export const regionRoleSchema = z.enum(['leader', 'follower', 'candidate', 'downgrading']);
export type RegionRole = z.output<typeof regionRoleSchema>;

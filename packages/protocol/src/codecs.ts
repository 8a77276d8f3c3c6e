import { RegionId, checkTimestamp, type Timestamp } from '@regionstore/core';
import { z } from 'zod';

/**
 * JSON forms of the domain types. Each is a zod codec: `decode` turns wire JSON into the domain value,
 * `encode` the reverse, so one definition serves both ends of a queue or HTTP call.
 */

/**
 * Bytes: base64 in JSON, raw in msgpack. Raw bytes are tried first: msgpack is the default wire, and a
 * union branch that fails builds an issue, once per key and value of every request.
 */
export const bytesCodec = z.codec(z.union([z.instanceof(Uint8Array), z.base64()]), z.instanceof(Buffer), {
  // base64 in JSON bodies; raw bytes in msgpack ones (MSGPACK_CONTENT_TYPE)
  decode: (input) =>
    typeof input === 'string'
      ? Buffer.from(input, 'base64')
      : Buffer.from(input.buffer, input.byteOffset, input.byteLength),
  encode: (buf) => buf.toString('base64'),
});

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

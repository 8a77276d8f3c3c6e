import { RegionId, checkTimestamp, type Timestamp } from '@regionstore/core';
import { z } from 'zod';

/**
 * JSON forms of the domain types. Each is a zod codec: `decode` turns wire JSON into the domain value,
 * `encode` the reverse, so one definition serves both ends of a queue or HTTP call.
 */

/**
 * Bytes: raw in msgpack bodies (the default wire), base64 in JSON ones. The input is checked by one
 * predicate rather than a union of two schemas, and raw bytes that are already a Buffer (what msgpackr
 * gives) are taken as they are: this runs for every key and value of every request, and the union
 * with a view per field cost about 0.6 µs per mutation (`npm run bench -- wire`).
 */
export const bytesCodec = z.codec(
  z.custom<Uint8Array | string>(
    (input) => input instanceof Uint8Array || (typeof input === 'string' && z.regexes.base64.test(input)),
    {
      error: (issue) =>
        typeof issue.input === 'string'
          ? 'Invalid base64-encoded string'
          : 'expected bytes (raw in msgpack, base64 in JSON)',
    },
  ),
  z.custom<Buffer>(), // what `decode` returns: nothing to check
  {
    decode: (input) => {
      if (typeof input === 'string') return Buffer.from(input, 'base64');
      return Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    },
    encode: (buf) => buf.toString('base64'),
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

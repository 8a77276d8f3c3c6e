import { Packr } from 'msgpackr';

/**
 * The data API's compact content type: msgpack of the same objects as the JSON bodies, except that
 * keys and values travel as raw bytes instead of base64 (`npm run bench -- wire`: about 6–9× less
 * codec work than JSON + base64 per request).
 */
export const MSGPACK_CONTENT_TYPE = 'application/vnd.msgpack';

const packr = new Packr({ useRecords: false });

/**
 * A body object as it goes on the wire: timestamps (bigint) as decimal strings; bytes raw for msgpack
 * or as base64 for JSON.
 */
function toWire(value: unknown, base64: boolean): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return base64 ? Buffer.from(value).toString('base64') : value;
  if (Array.isArray(value)) return value.map((v) => toWire(v, base64));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toWire(v, base64)]));
  }
  return value;
}

export function packWire(value: unknown): Buffer {
  return packr.pack(toWire(value, false));
}

export function unpackWire(data: Uint8Array): unknown {
  return packr.unpack(data);
}

/** The JSON form of the same body (for `JSON.stringify`). */
export function jsonWire(value: unknown): unknown {
  return toWire(value, true);
}

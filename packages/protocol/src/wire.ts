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
 * or as base64 for JSON. Copies only the objects and arrays that hold something to convert: a write's
 * mutations (bytes only) go to msgpack as they are, without a copy per mutation on the hot path.
 */
function toWire(value: unknown, base64: boolean): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return base64 ? Buffer.from(value).toString('base64') : value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const wire = toWire(item, base64);
      if (wire !== item) copy ??= value.slice();
      if (copy) copy[i] = wire;
    }
    return copy ?? value;
  }
  if (value !== null && typeof value === 'object') {
    let copy: Record<string, unknown> | undefined;
    for (const [key, item] of Object.entries(value)) {
      const wire = toWire(item, base64);
      if (wire !== item) copy ??= { ...value };
      if (copy) copy[key] = wire;
    }
    return copy ?? value;
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

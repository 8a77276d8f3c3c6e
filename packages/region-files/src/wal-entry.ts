import { CorruptFileError, type Timestamp } from '@regionstore/core';
import { Packr } from 'msgpackr';

/** One change a write makes to a key: a new value, or a deletion. */
export type Mutation = { op: 'put'; key: Buffer; value: Buffer } | { op: 'delete'; key: Buffer };

const packr = new Packr({ useRecords: false });
const PUT = 0;
const DELETE = 1;
const RESTORED = 1;
const PLAIN = 0;

export interface WalRecord {
  ts: Timestamp;
  mutations: Mutation[];
  /** Versions restored at their original commit ts, which may be below what the keys already hold. */
  restored?: boolean;
  /** The client's id for the write, so a re-sent copy is answered, not applied (see RecentWrites). */
  writeId?: string;
}

/**
 * One write request as a WAL entry: msgpack `[ts as 8 bytes, [[op, key, value?], …]]`, with a third
 * element `1` for restored versions (`0` otherwise) and a fourth, the write's id, when it has one.
 */
export function encodeWalRecord(record: WalRecord): Buffer {
  const ts = Buffer.allocUnsafe(8);
  ts.writeBigUInt64BE(record.ts);
  const mutations = record.mutations.map((m) => (m.op === 'put' ? [PUT, m.key, m.value] : [DELETE, m.key]));
  const flags = record.restored ? RESTORED : PLAIN;
  if (record.writeId !== undefined) return packr.pack([ts, mutations, flags, record.writeId]);
  return packr.pack(record.restored ? [ts, mutations, RESTORED] : [ts, mutations]);
}

/**
 * msgpackr gives bytes as Buffers over the entry itself: kept as they are, not copied (this runs for
 * every key a follower applies or a delta holds; nothing keeps them past that).
 */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function decodeWalRecord(data: Buffer, entryId: number): WalRecord {
  let raw: unknown;
  try {
    raw = packr.unpack(data);
  } catch (err) {
    throw new CorruptFileError(`WAL entry ${entryId} is not valid msgpack: ${(err as Error).message}`);
  }
  const bad = () => new CorruptFileError(`WAL entry ${entryId} is malformed`, { entryId });
  if (
    !Array.isArray(raw) ||
    !(
      raw.length === 2 ||
      (raw.length === 3 && raw[2] === RESTORED) ||
      (raw.length === 4 && (raw[2] === RESTORED || raw[2] === PLAIN) && typeof raw[3] === 'string')
    ) ||
    !(raw[0] instanceof Uint8Array) ||
    !Array.isArray(raw[1])
  ) {
    throw bad();
  }
  const ts = asBuffer(raw[0]).readBigUInt64BE(0);
  const mutations = (raw[1] as unknown[]).map((item): Mutation => {
    if (!Array.isArray(item) || !(item[1] instanceof Uint8Array)) throw bad();
    const key = asBuffer(item[1]);
    if (item[0] === PUT && item[2] instanceof Uint8Array) return { op: 'put', key, value: asBuffer(item[2]) };
    if (item[0] === DELETE) return { op: 'delete', key };
    throw bad();
  });
  const record: WalRecord = { ts, mutations };
  if (raw[2] === RESTORED) record.restored = true;
  if (raw.length === 4) record.writeId = raw[3] as string;
  return record;
}

import { CorruptFileError } from '@regionstore/core';
import { Packr } from 'msgpackr';
import { decodeWalRecord, encodeWalRecord } from '@regionstore/region-files';

const b = (s: string) => Buffer.from(s);

describe('WAL records', () => {
  it('round-trip puts, deletes and restored versions', () => {
    const record = {
      ts: 0xfedc_ba98_7654_3210n,
      mutations: [
        { op: 'put' as const, key: b('k1'), value: b('v1') },
        { op: 'delete' as const, key: b('k2') },
      ],
    };
    expect(decodeWalRecord(encodeWalRecord(record), 1)).toEqual(record);
    expect(decodeWalRecord(encodeWalRecord({ ...record, restored: true }), 2)).toEqual({
      ...record,
      restored: true,
    });
  });

  it('carry the write id of a write that has one, and read entries written before ids', () => {
    const record = { ts: 9n, mutations: [{ op: 'delete' as const, key: b('k') }] };
    expect(decodeWalRecord(encodeWalRecord({ ...record, writeId: 'w-1' }), 1)).toEqual({
      ...record,
      writeId: 'w-1',
    });
    const packr = new Packr({ useRecords: false });
    const ts = Buffer.alloc(8);
    ts.writeBigUInt64BE(9n);
    expect(decodeWalRecord(packr.pack([ts, [[1, b('k')]]]), 2)).toEqual(record);
    expect(() => decodeWalRecord(packr.pack([ts, [[1, b('k')]], 0, 7]), 3)).toThrow(
      /WAL entry 3 is malformed/,
    );
  });

  it('hand out keys and values over the entry itself, not copies', () => {
    const entry = encodeWalRecord({ ts: 7n, mutations: [{ op: 'put', key: b('key'), value: b('value') }] });
    const [m] = decodeWalRecord(entry, 1).mutations;
    expect(Buffer.isBuffer(m!.key)).toBe(true);
    expect(m!.key.buffer).toBe(entry.buffer);
    expect(m!.op === 'put' && m!.value.buffer).toBe(entry.buffer);
  });

  it('refuse what is not a record, naming the entry', () => {
    const packr = new Packr({ useRecords: false });
    expect(() => decodeWalRecord(Buffer.from([0xc1]), 3)).toThrow(CorruptFileError);
    expect(() => decodeWalRecord(packr.pack([Buffer.alloc(8), [[0, b('k')]]]), 4)).toThrow(
      /WAL entry 4 is malformed/,
    );
    expect(() => decodeWalRecord(packr.pack(['ts', []]), 5)).toThrow(/WAL entry 5 is malformed/);
  });
});

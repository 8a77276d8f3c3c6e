import { bytesCodec, writeRequestSchema } from '@regionstore/protocol';

describe('bytes on the wire', () => {
  it('takes raw bytes (msgpack bodies) as the same bytes, without a copy', () => {
    const raw = Buffer.from('key-1');
    const decoded = bytesCodec.parse(raw);
    expect(Buffer.isBuffer(decoded)).toBe(true);
    expect(decoded.equals(raw)).toBe(true);
    expect(decoded).toBe(raw); // a Buffer is taken as it is: no view per key and value
    const view = new Uint8Array([1, 2, 3]);
    expect([...bytesCodec.parse(view)]).toEqual([1, 2, 3]);
  });

  it('takes base64 (JSON bodies) and names what is wrong with bad base64', () => {
    expect(bytesCodec.parse(Buffer.from('abc').toString('base64')).toString()).toBe('abc');
    const parsed = writeRequestSchema.safeParse({
      regionId: '1:2',
      mutations: [{ op: 'put', key: '!!not base64', value: 'AAAA' }],
    });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues).toEqual([
      expect.objectContaining({ path: ['mutations', 0, 'key'], message: 'Invalid base64-encoded string' }),
    ]);
    expect(bytesCodec.safeParse(42).error?.issues[0]?.message).toBe(
      'expected bytes (raw in msgpack, base64 in JSON)',
    );
  });
});

describe('mutations on the wire', () => {
  const parse = (mutations: unknown[]) => writeRequestSchema.safeParse({ regionId: '1:2', mutations });

  it('decode raw and base64 bytes alike, and keep only op, key and value', () => {
    const key = Buffer.from('k');
    const parsed = parse([
      { op: 'put', key, value: Buffer.from('v'), extra: 1 },
      { op: 'delete', key: key.toString('base64') },
    ]);
    expect(parsed.data?.mutations).toEqual([
      { op: 'put', key, value: Buffer.from('v') },
      { op: 'delete', key },
    ]);
    expect(parsed.data?.mutations[0]!.key).toBe(key);
  });

  it('name each problem at its field', () => {
    const issues = (mutations: unknown[]) =>
      parse(mutations).error?.issues.map((i) => [i.path.join('.'), i.message]);
    expect(issues([{ op: 'put', key: Buffer.from('k') }])).toEqual([
      ['mutations.0.value', 'expected bytes (raw in msgpack, base64 in JSON)'],
    ]);
    expect(issues([{ op: 'upsert', key: 'AAAA' }])).toEqual([
      ['mutations.0.op', "expected 'put' or 'delete'"],
    ]);
    expect(issues([{ op: 'delete', key: Buffer.from('k') }, 'put k'])).toEqual([
      ['mutations.1', "expected a mutation {op: 'put' | 'delete', key, value?}"],
    ]);
  });
});

import { InvalidArgumentError, RegionId } from '@regionstore/core';

describe('RegionId', () => {
  it('packs tableId into the high 32 bits and regionNumber into the low 32 bits', () => {
    const id = new RegionId(1024, 1);
    expect(id.value).toBe((1024n << 32n) | 1n);
    expect(id.toString()).toBe('1024:1');
  });

  it('round-trips the extremes exactly, beyond Number.MAX_SAFE_INTEGER', () => {
    const max = new RegionId(0xffff_ffff, 0xffff_ffff);
    expect(max.value).toBe((1n << 64n) - 1n);
    expect(max.value > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(RegionId.fromBigInt(max.value).equals(max)).toBe(true);
    expect(RegionId.parse(max.value.toString()).toString()).toBe('4294967295:4294967295');
    expect(RegionId.fromBigInt(0n).toString()).toBe('0:0');
    // 2^53 + 1 is where doubles start losing integers.
    const justPastSafe = (1n << 53n) + 1n;
    expect(RegionId.fromBigInt(justPastSafe).value).toBe(justPastSafe);
  });

  it('parses both the pair form and the packed decimal form', () => {
    expect(RegionId.parse('7:9').equals(new RegionId(7, 9))).toBe(true);
    expect(RegionId.parse(((7n << 32n) | 9n).toString()).equals(new RegionId(7, 9))).toBe(true);
  });

  it.each(['', 'a:1', '1:', '-1:2', '1:2:3', '4294967296:0', '0:4294967296', '18446744073709551616', '1.5'])(
    'rejects %p with InvalidArgument',
    (text) => {
      expect(() => RegionId.parse(text)).toThrow(InvalidArgumentError);
    },
  );

  it('rejects out-of-range parts and values', () => {
    expect(() => new RegionId(-1, 0)).toThrow(InvalidArgumentError);
    expect(() => new RegionId(0, 1.5)).toThrow(InvalidArgumentError);
    expect(() => RegionId.fromBigInt(-1n)).toThrow(InvalidArgumentError);
    expect(() => RegionId.fromBigInt(1n << 64n)).toThrow(InvalidArgumentError);
  });

  it('orders by table then region number and serialises to JSON as a string', () => {
    const ids = [new RegionId(2, 0), new RegionId(1, 5), new RegionId(1, 2)];
    expect(ids.sort((a, b) => a.compare(b)).map(String)).toEqual(['1:2', '1:5', '2:0']);
    expect(JSON.stringify({ id: new RegionId(3, 4) })).toBe('{"id":"3:4"}');
  });
});

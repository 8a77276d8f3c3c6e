import { RegionId, keyRange } from '@regionstore/core';
import { resolveRangeClaims } from '../src/recovered-ranges';

const id = (n: number) => new RegionId(1, n);

describe('resolveRangeClaims', () => {
  it('leaves claims that do not overlap as they are', () => {
    const verdicts = resolveRangeClaims([
      { regionId: id(1), range: keyRange('', 'm'), version: 1 },
      { regionId: id(2), range: keyRange('m', ''), version: 4 },
    ]);
    expect(verdicts.get(id(1).value)).toEqual({ kind: 'kept', range: keyRange('', 'm'), clippedBy: [] });
    expect(verdicts.get(id(2).value)).toEqual({ kind: 'kept', range: keyRange('m', ''), clippedBy: [] });
  });

  it('gives an overlap to the newer version, and refuses an older range whose middle is taken', () => {
    const verdicts = resolveRangeClaims([
      { regionId: id(1), range: keyRange('a', 'z'), version: 1 },
      { regionId: id(2), range: keyRange('g', 'm'), version: 2 },
      { regionId: id(10), range: keyRange('y', ''), version: 2 },
      { regionId: id(9), range: keyRange('x', ''), version: 2 },
    ]);
    expect(verdicts.get(id(1).value)).toEqual({ kind: 'torn', by: [id(2), id(9)] });
    // Same version: the smaller region id keeps it (by value: 1:9 before 1:10).
    expect(verdicts.get(id(9).value)).toMatchObject({ kind: 'kept', range: keyRange('x', '') });
    expect(verdicts.get(id(10).value)).toEqual({ kind: 'covered', by: [id(9)] });
  });
});

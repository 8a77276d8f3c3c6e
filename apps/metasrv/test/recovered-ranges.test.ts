import { keyRange } from '@regionstore/core';
import { resolveRangeClaims } from '../src/recovered-ranges';

describe('resolveRangeClaims', () => {
  it('leaves claims that do not overlap as they are', () => {
    const verdicts = resolveRangeClaims([
      { regionId: '1:1', range: keyRange('', 'm'), version: 1 },
      { regionId: '1:2', range: keyRange('m', ''), version: 4 },
    ]);
    expect(verdicts.get('1:1')).toEqual({
      kind: 'kept',
      range: keyRange('', 'm'),
      version: 1,
      clippedBy: [],
    });
    expect(verdicts.get('1:2')).toEqual({
      kind: 'kept',
      range: keyRange('m', ''),
      version: 4,
      clippedBy: [],
    });
  });

  it('gives an overlap to the newer version, and refuses an older range whose middle is taken', () => {
    const verdicts = resolveRangeClaims([
      { regionId: '1:1', range: keyRange('a', 'z'), version: 1 },
      { regionId: '1:2', range: keyRange('g', 'm'), version: 2 },
      { regionId: '1:3', range: keyRange('x', ''), version: 2 },
      { regionId: '1:4', range: keyRange('y', ''), version: 2 },
    ]);
    expect(verdicts.get('1:1')).toEqual({ kind: 'torn', by: ['1:2', '1:3'] });
    // Same version: the region id first in order keeps it.
    expect(verdicts.get('1:3')).toMatchObject({ kind: 'kept', range: keyRange('x', '') });
    expect(verdicts.get('1:4')).toEqual({ kind: 'covered', by: ['1:3'] });
  });
});

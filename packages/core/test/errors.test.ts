import {
  ERROR_CODES,
  EpochNotMatchError,
  NotLeaderError,
  RegionStoreError,
  errorFromBody,
  httpStatusFor,
  isRegionStoreError,
  toRegionStoreError,
} from '@regionstore/core';

describe('errors', () => {
  it('carries a stable code, details and a JSON body', () => {
    const err = new NotLeaderError('region 1:2 is led by node-b', { leader: 'node-b' });
    expect(err).toBeInstanceOf(RegionStoreError);
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('NotLeader');
    expect(err.name).toBe('NotLeaderError');
    expect(JSON.parse(JSON.stringify(err))).toEqual({
      code: 'NotLeader',
      message: 'region 1:2 is led by node-b',
      details: { leader: 'node-b' },
    });
  });

  it('maps codes to HTTP statuses', () => {
    expect(httpStatusFor('InvalidArgument')).toBe(400);
    expect(httpStatusFor('RegionNotFound')).toBe(404);
    expect(httpStatusFor('ServerIsBusy')).toBe(503);
    expect(httpStatusFor('Internal')).toBe(500);
    expect(httpStatusFor('NoSuchCode')).toBe(500);
    for (const code of ERROR_CODES) {
      expect(httpStatusFor(code)).toBeGreaterThanOrEqual(400);
    }
  });

  it('rebuilds the typed class from a wire body', () => {
    const back = errorFromBody(new EpochNotMatchError('stale', { current: 3 }).toJSON());
    expect(back).toBeInstanceOf(EpochNotMatchError);
    expect(isRegionStoreError(back, 'EpochNotMatch')).toBe(true);
    expect(back.details).toEqual({ current: 3 });
    const unknown = errorFromBody({ code: 'Weird', message: 'x' });
    expect(unknown.code).toBe('Internal');
    expect(unknown.details).toEqual({ originalCode: 'Weird' });
  });

  it('wraps foreign errors as Internal and keeps typed ones', () => {
    const typed = new NotLeaderError('x');
    expect(toRegionStoreError(typed)).toBe(typed);
    const wrapped = toRegionStoreError(new TypeError('boom'));
    expect(wrapped.code).toBe('Internal');
    expect(wrapped.message).toBe('boom');
    expect(toRegionStoreError('plain').message).toBe('plain');
  });

  it('turns a command Redis never received into the retryable ServerIsBusy', () => {
    const offline = new Error("Stream isn't writeable and enableOfflineQueue options is false");
    expect(toRegionStoreError(offline)).toMatchObject({ code: 'ServerIsBusy' });
    expect(toRegionStoreError(new Error('connect ECONNREFUSED 127.0.0.1:1')).code).toBe('ServerIsBusy');
    expect(toRegionStoreError(new Error('Connection is closed.')).code).toBe('Internal');
  });
});

import {
  FailPointError,
  InvalidArgumentError,
  clearFailPoints,
  configureFailPoint,
  configureFailPointsFrom,
  failPointHits,
  failpoint,
  parseFailAction,
  removeFailPoint,
} from '@regionstore/core';

afterEach(() => clearFailPoints());

describe('fail points', () => {
  it('do nothing unless enabled', async () => {
    expect(await failpoint('region_apply_snap')).toBe(false);
    expect(failPointHits('region_apply_snap')).toBe(0);
  });

  it('return tells the caller to return early', async () => {
    configureFailPoint('before_region_gen_snap', 'return');
    expect(await failpoint('before_region_gen_snap')).toBe(true);
    expect(failPointHits('before_region_gen_snap')).toBe(1);
  });

  it('throw raises FailPointError with the message', async () => {
    configureFailPoint('region_gen_snap', 'throw(disk gone)');
    await expect(async () => failpoint('region_gen_snap')).rejects.toThrow(FailPointError);
    await expect(async () => failpoint('region_gen_snap')).rejects.toThrow('region_gen_snap: disk gone');
  });

  it('delay waits the given time', async () => {
    configureFailPoint('slow', 'delay(60)');
    const started = Date.now();
    expect(await failpoint('slow')).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(55);
  });

  it('pause holds callers until the point is removed', async () => {
    configureFailPoint('apply_pending_snapshot', 'pause');
    let passed = false;
    const waiting = Promise.resolve(failpoint('apply_pending_snapshot')).then(() => {
      passed = true;
    });
    await new Promise((r) => setTimeout(r, 30));
    expect(passed).toBe(false);
    removeFailPoint('apply_pending_snapshot');
    await waiting;
    expect(passed).toBe(true);
  });

  it('N* fires N times, then turns off', async () => {
    configureFailPoint('once', '2*return');
    expect(await failpoint('once')).toBe(true);
    expect(await failpoint('once')).toBe(true);
    expect(await failpoint('once')).toBe(false);
  });

  it('reads the REGIONSTORE_FAILPOINTS format', async () => {
    configureFailPointsFrom('a=return; b=throw(x);c=off');
    expect(await failpoint('a')).toBe(true);
    await expect(async () => failpoint('b')).rejects.toThrow('b: x');
    expect(await failpoint('c')).toBe(false);
  });

  it.each(['explode', 'delay', 'delay(-1)', 'delay(abc)', '*return'])('rejects action %p', (text) => {
    expect(() => parseFailAction(text)).toThrow(InvalidArgumentError);
  });

  it('rejects settings without a name', () => {
    expect(() => configureFailPointsFrom('=return')).toThrow(/expected name=action/);
  });
});

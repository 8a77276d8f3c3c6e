import { RedisNamespace } from '@regionstore/testing';

describe('RedisNamespace', () => {
  it('gives each instance its own prefix and deletes only its own keys', async () => {
    const mine = new RedisNamespace('mine');
    const other = new RedisNamespace('other');
    expect(mine.prefix).not.toBe(other.prefix);
    const redis = await mine.connect();
    await redis.set(mine.key('a'), '1');
    await redis.xadd(mine.key('stream'), '*', 'f', 'v');
    await redis.set(other.key('b'), '2');
    const reader = await other.connect();
    await mine.cleanup();
    expect(await reader.exists(mine.key('a'), mine.key('stream'))).toBe(0);
    expect(await reader.get(other.key('b'))).toBe('2');
    await other.cleanup();
  });
});

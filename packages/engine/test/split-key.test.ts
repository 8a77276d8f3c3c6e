import { keyRange } from '@regionstore/core';
import { WriteBatch, middleKey, putVersion } from '@regionstore/engine';
import { b, useEngines } from './helpers';

const engines = useEngines('split-key');
const key = (i: number) => b(`k${String(i).padStart(5, '0')}`);

describe('middleKey (the half split check)', () => {
  it('finds a key near the middle of the range’s bytes, inside the range', async () => {
    const engine = await engines.open();
    const batch = new WriteBatch();
    // 1,000 small keys, then 1,000 keys ten times larger: the bytes' middle is well past key 1,000.
    for (let i = 0; i < 2000; i++) putVersion(batch, key(i), 10n, Buffer.alloc(i < 1000 ? 10 : 100, 1));
    putVersion(batch, b('zz-outside'), 10n, Buffer.alloc(100_000, 1));
    await engine.write(batch);
    const middle = (await middleKey(engine, keyRange('k', 'z')))!.toString();
    expect(middle > key(1400).toString() && middle < key(1700).toString()).toBe(true);
    // Every version of a key stays on one side: the split key is a user key.
    expect(middle).toMatch(/^k\d{5}$/);
  });

  it('has none for a range whose only key is its start, or an empty one', async () => {
    const engine = await engines.open();
    const batch = new WriteBatch();
    putVersion(batch, b('a'), 10n, b('x'));
    putVersion(batch, b('a'), 20n, b('y'));
    await engine.write(batch);
    expect(await middleKey(engine, keyRange('a', 'b'))).toBeUndefined();
    expect(await middleKey(engine, keyRange('c', 'd'))).toBeUndefined();
  });
});

import { keyRange } from '@regionstore/core';
import { CF_DEFAULT, WriteBatch, middleKey, putVersion, type KvEngine } from '@regionstore/engine';
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

  it.each([
    ['in RocksDB’s files', true],
    ['in its memtable', false],
  ])(
    'bisects a large range by RocksDB’s size estimates (data %s), near the middle of its bytes',
    async (_label, flushed) => {
      const engine = await engines.open();
      // 2,000 keys of 1 KiB, then 2,000 of 8 KiB: the bytes' middle is near key 2,000 + 7/16 of 2,000.
      for (let from = 0; from < 4000; from += 500) {
        const batch = new WriteBatch();
        for (let i = from; i < from + 500; i++)
          putVersion(batch, key(i), 10n, Buffer.alloc(i < 2000 ? 1024 : 8192, i));
        if (from === 0) putVersion(batch, b('zz-outside'), 10n, Buffer.alloc(1 << 20, 1));
        await engine.write(batch);
      }
      if (flushed) await engine.flush(CF_DEFAULT);
      const probed = await countIterations(engine, () =>
        middleKey(engine, keyRange('k', 'z'), { exactBelowBytes: 0 }),
      );
      const index = Number(probed.result!.toString().slice(1));
      expect(index).toBeGreaterThan(2600);
      expect(index).toBeLessThan(3200);
      // It read no versions but the one it returns (the scan reads all 4,000).
      expect(probed.iterations).toBeLessThanOrEqual(2);
      const scanned = await countIterations(engine, () => middleKey(engine, keyRange('k', 'z')));
      expect(scanned.iterations).toBe(1);
      expect(Math.abs(Number(scanned.result!.toString().slice(1)) - index)).toBeLessThan(300);
    },
  );

  it('bisects down to keys that share a prefix longer than the range’s bounds', async () => {
    const engine = await engines.open();
    const prefix = 'tenant-0042/orders/2026-12-07/';
    const batch = new WriteBatch();
    for (let i = 0; i < 1000; i++)
      putVersion(batch, b(`${prefix}${String(i).padStart(4, '0')}`), 10n, Buffer.alloc(4096, 1));
    await engine.write(batch);
    await engine.flush(CF_DEFAULT);
    const middle = (await middleKey(engine, keyRange('', ''), { exactBelowBytes: 0 }))!.toString();
    expect(middle.startsWith(prefix)).toBe(true);
    const index = Number(middle.slice(prefix.length));
    expect(index).toBeGreaterThan(400);
    expect(index).toBeLessThan(600);
  });

  it('has none for a range whose only key is its start, or an empty one', async () => {
    const engine = await engines.open();
    const batch = new WriteBatch();
    putVersion(batch, b('a'), 10n, b('x'));
    putVersion(batch, b('a'), 20n, b('y'));
    await engine.write(batch);
    for (const exactBelowBytes of [0, undefined]) {
      expect(await middleKey(engine, keyRange('a', 'b'), { exactBelowBytes })).toBeUndefined();
      expect(await middleKey(engine, keyRange('c', 'd'), { exactBelowBytes })).toBeUndefined();
      // No key fits between the bounds: the bisection finds none, and neither does the scan.
      expect(await middleKey(engine, keyRange(b('a'), b('a\0')), { exactBelowBytes })).toBeUndefined();
    }
  });
});

/** Runs `read` counting the engine's range reads (iterators opened) it makes. */
async function countIterations<T>(
  engine: KvEngine,
  read: () => Promise<T>,
): Promise<{ result: T; iterations: number }> {
  const iterate = engine.iterate.bind(engine);
  let iterations = 0;
  engine.iterate = (cf, options) => {
    iterations++;
    return iterate(cf, options);
  };
  try {
    return { result: await read(), iterations };
  } finally {
    engine.iterate = iterate;
  }
}

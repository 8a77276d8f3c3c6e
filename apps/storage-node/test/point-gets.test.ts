import { join } from 'node:path';
import { RocksEngine, WriteBatch, putVersion, type KvReader } from '@regionstore/engine';
import { useTempDir } from '@regionstore/testing';
import { PointGets } from '../src/point-gets';

const dir = useTempDir('point-gets');
const b = (s: string) => Buffer.from(s);

describe('PointGets', () => {
  it('answers the gets of one tick from one read batch, and fails them together', async () => {
    const engine = await RocksEngine.open({ path: join(dir.path, 'db') });
    const batch = new WriteBatch();
    for (let i = 0; i < 10; i++) putVersion(batch, b(`k${i}`), 5n, b(`v${i}`));
    await engine.write(batch);
    const batches: number[] = [];
    let failing = false;
    // The real engine, counting the read batches it is asked for.
    const counted: KvReader = {
      get: (cf, key) => engine.get(cf, key),
      iterate: (cf, options) => engine.iterate(cf, options),
      getMany: (cf, keys) => {
        batches.push(keys.length);
        return failing ? Promise.reject(new Error('engine gone')) : engine.getMany(cf, keys);
      },
    };
    const gets = new PointGets(counted);
    const values = await Promise.all(Array.from({ length: 12 }, (_, i) => gets.get(b(`k${i}`))));
    expect(values.map((v) => v?.toString())).toEqual([
      ...Array.from({ length: 10 }, (_, i) => `v${i}`),
      undefined,
      undefined,
    ]);
    expect(batches).toEqual([12]);
    // The next tick is a new batch.
    expect((await gets.get(b('k3')))?.toString()).toBe('v3');
    expect(batches).toEqual([12, 1]);
    failing = true;
    const failed = await Promise.allSettled([gets.get(b('k1')), gets.get(b('k2'))]);
    expect(failed.map((f) => f.status)).toEqual(['rejected', 'rejected']);
    await engine.close();
  });
});

import { join } from 'node:path';
import {
  CF_LATEST,
  RocksEngine,
  WriteBatch,
  putVersion,
  type KvEngine,
  type KvReader,
} from '@regionstore/engine';
import { useTempDir } from '@regionstore/testing';
import { LatestReads } from '../src/latest-reads';

const dir = useTempDir('latest-reads');
const b = (s: string) => Buffer.from(s);

describe('LatestReads', () => {
  it('answers the reads of one tick from one read batch per CF, on a snapshot when a batch get is among them', async () => {
    const engine = await RocksEngine.open({ path: join(dir.path, 'db') });
    const batch = new WriteBatch();
    for (let i = 0; i < 10; i++) putVersion(batch, b(`k${i}`), 5n, b(`v${i}`));
    await engine.write(batch);
    /** Read batches asked for: where (engine or snapshot) and how many keys. */
    const reads: string[] = [];
    let failing = false;
    // The real engine, noting the read batches it is asked for.
    const noted: KvReader & Pick<KvEngine, 'snapshot'> = {
      get: (cf, key) => engine.get(cf, key),
      iterate: (cf, options) => engine.iterate(cf, options),
      getMany: (cf, keys) => {
        reads.push(`engine:${keys.length}`);
        return failing ? Promise.reject(new Error('engine gone')) : engine.getMany(cf, keys);
      },
      snapshot: () => {
        const snapshot = engine.snapshot();
        return Object.assign(Object.create(snapshot) as typeof snapshot, {
          getMany: (cf: typeof CF_LATEST, keys: Buffer[]) => {
            reads.push(`snapshot:${keys.length}`);
            return snapshot.getMany(cf, keys);
          },
          release: () => snapshot.release(),
        });
      },
    };
    const latest = new LatestReads(noted);
    const points = await Promise.all(Array.from({ length: 12 }, (_, i) => latest.get(b(`k${i}`))));
    expect(points.map((v) => v?.toString())).toEqual([
      ...Array.from({ length: 10 }, (_, i) => `v${i}`),
      undefined,
      undefined,
    ]);
    // Where each key's newest version is (12 keys), then the values of the 10 that have one.
    expect(reads).toEqual(['engine:12', 'engine:10']);
    // Point gets and batch gets of one tick: the same two read batches of every key, on one snapshot.
    const [one, many, other] = await Promise.all([
      latest.get(b('k1')),
      latest.getMany([b('k2'), b('nope'), b('k3')]),
      latest.getMany([b('k9'), b('k0')]),
    ]);
    expect([one?.toString(), many.map((v) => v?.toString()), other.map((v) => v?.toString())]).toEqual([
      'v1',
      ['v2', undefined, 'v3'],
      ['v9', 'v0'],
    ]);
    expect(reads).toEqual(['engine:12', 'engine:10', 'snapshot:6', 'snapshot:5']);
    expect(engine.oldestSnapshotSequence()).toBeUndefined(); // released
    failing = true;
    const failed = await Promise.allSettled([latest.get(b('k1')), latest.get(b('k2'))]);
    expect(failed.map((f) => f.status)).toEqual(['rejected', 'rejected']);
    await engine.close();
  });
});

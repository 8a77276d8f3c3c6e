import { join } from 'node:path';
import { RegionId, composeTimestamp, keyRange, type KeyRange } from '@regionstore/core';
import {
  RocksEngine,
  WriteBatch,
  putVersion,
  writeApplyState,
  writeRegionLocalState,
  type CfName,
  type KvEngine,
  type RocksEngineOptions,
} from '@regionstore/engine';
import { LocalStorage } from '@regionstore/storage-backends';
import { useTempDir } from '@regionstore/testing';

export const b = (text: string): Buffer => Buffer.from(text);

/** Engines and a local snapshot storage in a per-file temp dir; engines close after each test. */
export function useRunnerFixtures(label: string) {
  const dir = useTempDir(label);
  const open: KvEngine[] = [];
  afterEach(async () => {
    for (const engine of open.splice(0)) await engine.close();
  });
  return {
    async engine(options: Partial<RocksEngineOptions> = {}): Promise<RocksEngine> {
      const engine = await RocksEngine.open({ path: join(dir.sub('db')), ...options });
      open.push(engine);
      return engine;
    },
    storage(): LocalStorage {
      return new LocalStorage(dir.sub('snapshots'));
    },
  };
}

export function region(n: number): RegionId {
  return new RegionId(1, n);
}

/** Writes a region in state Normal with an apply state, and one MVCC version per given key. */
export async function seedRegion(
  engine: KvEngine,
  regionId: RegionId,
  range: KeyRange,
  data: Array<[string | Buffer, string]>,
  appliedIndex = 10,
): Promise<void> {
  const batch = new WriteBatch();
  writeRegionLocalState(batch, { regionId, state: 'Normal', range, epoch: { version: 1, confVer: 1 } });
  writeApplyState(batch, regionId, { appliedIndex, truncatedIndex: appliedIndex, truncatedTerm: 1 });
  let ts = 1;
  for (const [key, value] of data) {
    putVersion(batch, Buffer.isBuffer(key) ? key : b(key), composeTimestamp(1000, ts++), b(value));
  }
  await engine.write(batch);
}

export async function dump(engine: KvEngine, cf: CfName, range?: { start: Buffer; end: Buffer }) {
  const out: string[] = [];
  for await (const entry of engine.iterate(cf, range ?? {})) {
    out.push(`${entry.key.toString('hex')}=${entry.value.toString('hex')}`);
  }
  return out;
}

export { keyRange };

// Region snapshot benchmark: region-runner Gen (engine snapshot → .rsst object) and Apply (object →
// engine) against raw fsync'd disk writes and reads of the same byte count, in the same run.
// `npm run bench -- snapshot`
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegionId, keyRange } from '@regionstore/core';
import {
  RocksEngine,
  WriteBatch,
  putVersion,
  readApplyState,
  writeApplyState,
  writeRegionLocalState,
} from '@regionstore/engine';
import { RegionRunner, RegionTask, prepareSnapshotApply } from '@regionstore/region-runner';
import { LocalStorage } from '@regionstore/storage-backends';
import { rawDiskRead, rawDiskWrite } from '../lib/load.mjs';
import { figure, median, printTable, timed, writeResults } from '../lib/report.mjs';

const MB = Number(process.env.BENCH_SNAPSHOT_MB ?? 128);
const VALUE = 1024;
const KEYS = Math.floor((MB * 1024 * 1024) / VALUE);
const RUNS = 3;
const root = mkdtempSync(join(tmpdir(), 'regionstore-bench-snapshot-'));
let dirs = 0;
const dir = () => join(root, String(dirs++));
const regionId = new RegionId(1, 1);
const range = keyRange(Buffer.alloc(0), Buffer.alloc(0));

async function seed(engine) {
  const value = Buffer.alloc(VALUE);
  for (let i = 0; i < KEYS; i += 1000) {
    const batch = new WriteBatch();
    for (let j = i; j < Math.min(KEYS, i + 1000); j++) {
      for (let k = 0; k < VALUE; k += 4) value.writeUInt32BE((j * 2654435761 + k) >>> 0, k); // incompressible-ish
      putVersion(batch, Buffer.from(`key${String(j).padStart(10, '0')}`), 1n << 20n, Buffer.from(value));
    }
    await engine.write(batch);
  }
  const batch = new WriteBatch();
  writeRegionLocalState(batch, { regionId, state: 'Normal', range, epoch: { version: 1, confVer: 1 } });
  writeApplyState(batch, regionId, { appliedIndex: 7, truncatedIndex: 7, truncatedTerm: 1 });
  await engine.write(batch);
  await engine.flush('default');
}

async function rawDisk(bytes) {
  const file = join(dir(), 'raw.bin');
  return { write: await rawDiskWrite(file, bytes), read: await rawDiskRead(file, bytes) };
}

const source = await RocksEngine.open({ path: dir() });
await seed(source);
const storage = new LocalStorage(dir());
const runner = new RegionRunner({ engine: source, storage, config: { snapshotCompression: 'none' } });
let snapshot;
const gen = await median(RUNS, async () => {
  const applyState = await readApplyState(source, regionId);
  const seconds = await timed(async () => {
    snapshot = await runner.schedule(
      RegionTask.gen({ regionId, term: 1, applyState, snapshot: source.snapshot() }),
    );
  });
  return snapshot.rawBytes / 1e6 / seconds;
});
const apply = await median(RUNS, async () => {
  const target = await RocksEngine.open({ path: dir() });
  const targetRunner = new RegionRunner({ engine: target, storage });
  await prepareSnapshotApply(target, { regionId, range, epoch: { version: 1, confVer: 1 } }, snapshot.key);
  const seconds = await timed(() => targetRunner.schedule(RegionTask.apply(regionId)));
  await targetRunner.stop();
  await target.close();
  return snapshot.rawBytes / 1e6 / seconds;
});
const disk = await median(RUNS, () => rawDisk(snapshot.size).then((r) => r.write));
const diskRead = await median(RUNS, () => rawDisk(snapshot.size).then((r) => r.read));
await runner.stop();
await source.close();
rmSync(root, { recursive: true, force: true });

const figures = [
  figure('snapshot gen (engine → .rsst, no compression)', 'MB/s', gen, 'raw fs write + fsync', disk),
  figure('snapshot apply (.rsst verify + load + flush)', 'MB/s', apply, 'raw fs read', diskRead),
];
printTable(`region snapshot: ${MB} MiB region, ${VALUE}-byte values`, figures);
console.log(
  `\nresults: ${writeResults('snapshot', 'npm run bench -- snapshot', { mb: MB, valueBytes: VALUE, keys: KEYS, runs: RUNS }, figures)}`,
);

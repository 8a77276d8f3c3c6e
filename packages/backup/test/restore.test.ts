import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isRegionStoreError, keyRange } from '@regionstore/core';
import { CF_LOCK, mvccScan, type KvEngine } from '@regionstore/engine';
import {
  BackupTask,
  EngineRestoreSink,
  RestoreRunner,
  buildBackupMeta,
  readBackupMeta,
  writeBackupMeta,
  type RestoreProgress,
} from '@regionstore/backup';
import { createStorage } from '@regionstore/storage-backends';
import { b, leaderRegions, request, runTask, ts, useEndpoints, writeVersions } from './helpers';

const fixtures = useEndpoints('backup-restore');
const ALL = keyRange(b(''), b(''));

async function scan(engine: KvEngine, at?: bigint) {
  const out: string[] = [];
  for await (const e of mvccScan(engine, ALL, at))
    out.push(`${e.key.toString()}=${e.value.toString()}@${e.ts}`);
  return out;
}

async function backup(endpoint: Parameters<typeof runTask>[0], fields: Parameters<typeof request>[0]) {
  const task = BackupTask.create(request(fields));
  const responses = await runTask(endpoint, task);
  const meta = buildBackupMeta(task.request, responses);
  const storage = createStorage(fields.storage);
  await writeBackupMeta(storage, meta);
  return { meta, storage };
}

describe('backup and restore', () => {
  it('restores a full backup into an empty engine with identical data, and a rerun changes nothing', async () => {
    const { engine, endpoint, regionInfo } = await fixtures.endpoint();
    regionInfo.setRegions(
      leaderRegions([
        ['', 'm', 1],
        ['m', '', 2],
      ]),
    );
    await writeVersions(engine, [
      ['apple', 1, 'red'],
      ['apple', 3, 'green'],
      ['kiwi', 2, 'brown'],
      ['zebra', 2, 'stripes'],
      ['zebra', 4, undefined],
    ]);
    const url = fixtures.storageUrl();
    const { storage } = await backup(endpoint, { endVersion: ts(10).toString(), storage: url });
    const meta = await readBackupMeta(storage);
    expect(meta.ranges).toHaveLength(2);
    expect(meta.endVersion).toBe(ts(10));

    const target = await fixtures.engine();
    const progress: RestoreProgress[] = [];
    const runner = new RestoreRunner({
      storage,
      sink: new EngineRestoreSink(target),
      onProgress: (p) => progress.push(p),
    });
    // [m, ) holds only a deleted key: its range has a response but no file.
    expect(await runner.run(meta)).toEqual({ files: 1, kvs: 2 });
    expect(await scan(target)).toEqual(await scan(engine, ts(10)));
    expect(progress.map((p) => p.phase)).toEqual(['verify', 'write']);
    await runner.run(meta);
    expect(await scan(target)).toEqual(await scan(engine, ts(10)));
  });

  it('base + incremental backup restores to the later state, deletes included', async () => {
    const { engine, endpoint, regionInfo } = await fixtures.endpoint();
    regionInfo.setRegions(leaderRegions([['', '', 1]]));
    await writeVersions(engine, [
      ['a', 1, 'a1'],
      ['b', 1, 'b1'],
      ['c', 1, 'c1'],
    ]);
    const base = await backup(endpoint, { endVersion: ts(5).toString(), storage: fixtures.storageUrl() });
    await writeVersions(engine, [
      ['a', 6, 'a2'],
      ['b', 7, undefined],
      ['d', 8, 'd1'],
    ]);
    const increment = await backup(endpoint, {
      startVersion: ts(5).toString(),
      endVersion: ts(10).toString(),
      storage: fixtures.storageUrl(),
    });
    expect(increment.meta.files.reduce((n, f) => n + f.kvCount, 0)).toBe(3);

    const target = await fixtures.engine();
    await new RestoreRunner({ storage: base.storage, sink: new EngineRestoreSink(target) }).run(base.meta);
    expect(await scan(target)).toEqual(await scan(engine, ts(5)));
    await new RestoreRunner({ storage: increment.storage, sink: new EngineRestoreSink(target) }).run(
      increment.meta,
    );
    expect(await scan(target)).toEqual(await scan(engine, ts(10)));
    expect(await scan(target)).toEqual([`a=a2@${ts(6)}`, `c=c1@${ts(1)}`, `d=d1@${ts(8)}`]);

    // In the other order the base's older versions land below the increment's: reads still see the
    // newer ones.
    const reversed = await fixtures.engine();
    await new RestoreRunner({ storage: increment.storage, sink: new EngineRestoreSink(reversed) }).run(
      increment.meta,
    );
    await new RestoreRunner({ storage: base.storage, sink: new EngineRestoreSink(reversed) }).run(base.meta);
    expect(await scan(reversed)).toEqual(await scan(engine, ts(10)));
    expect(await scan(reversed, ts(5))).toEqual(await scan(engine, ts(5)));
  });

  it('refuses a backup with a flipped byte in a file and writes nothing', async () => {
    const { engine, endpoint, regionInfo } = await fixtures.endpoint();
    regionInfo.setRegions(
      leaderRegions([
        ['', 'm', 1],
        ['m', '', 2],
      ]),
    );
    await writeVersions(engine, [
      ['a', 1, 'x'.repeat(200)],
      ['z', 1, 'y'.repeat(200)],
    ]);
    const root = fixtures.dir.sub('flip');
    const { meta, storage } = await backup(endpoint, {
      endVersion: ts(5).toString(),
      storage: `local://${root}`,
    });
    const damaged = meta.files.at(-1)!; // the second file: the first must not be written either
    const path = join(root, damaged.name);
    const bytes = await readFile(path);
    bytes[30] = bytes[30]! ^ 0x01;
    await writeFile(path, bytes);

    const target = await fixtures.engine();
    let caught: unknown;
    await new RestoreRunner({ storage, sink: new EngineRestoreSink(target) })
      .run(meta)
      .catch((err: unknown) => (caught = err));
    expect(isRegionStoreError(caught, 'ChecksumMismatch') || isRegionStoreError(caught, 'CorruptFile')).toBe(
      true,
    );
    expect((caught as Error).message).toContain(damaged.name);
    expect(await scan(target)).toEqual([]);
  });

  it('refuses a file whose KV count differs from the meta', async () => {
    const { engine, endpoint, regionInfo } = await fixtures.endpoint();
    regionInfo.setRegions(leaderRegions([['', '', 1]]));
    await writeVersions(engine, [['a', 1, 'x']]);
    const { meta, storage } = await backup(endpoint, {
      endVersion: ts(5).toString(),
      storage: fixtures.storageUrl(),
    });
    const forged = { ...meta, files: meta.files.map((f) => ({ ...f, kvCount: f.kvCount + 1 })) };
    await expect(
      new RestoreRunner({ storage, sink: new EngineRestoreSink(await fixtures.engine()) }).run(forged),
    ).rejects.toMatchObject({
      code: 'ChecksumMismatch',
    });
  });

  it('reads each file once when the caller verified it, and still refuses one that differs from the meta', async () => {
    const { engine, endpoint, regionInfo } = await fixtures.endpoint();
    regionInfo.setRegions(leaderRegions([['', '', 1]]));
    await writeVersions(
      engine,
      Array.from({ length: 50 }, (_, i): [string, number, string] => [
        `k${String(i).padStart(2, '0')}`,
        1,
        `v${i}`,
      ]),
    );
    const { meta, storage } = await backup(endpoint, {
      endVersion: ts(5).toString(),
      storage: fixtures.storageUrl(),
    });
    const reads: string[] = [];
    const counting = Object.create(storage) as typeof storage;
    counting.read = (name) => {
      reads.push(name);
      return storage.read(name);
    };
    const target = await fixtures.engine();
    const progress: RestoreProgress[] = [];
    const runner = new RestoreRunner({
      storage: counting,
      sink: new EngineRestoreSink(target),
      verified: true,
      onProgress: (p) => progress.push(p),
    });
    expect(await runner.run(meta)).toEqual({ files: 1, kvs: 50 });
    expect(reads).toEqual([meta.files[0]!.name]);
    expect(progress.map((p) => p.phase)).toEqual(['write']);
    expect(await scan(target)).toEqual(await scan(engine, ts(5)));

    // the file's own checks still run in the write pass: a meta it does not match fails it at its end
    const forged = { ...meta, files: meta.files.map((f) => ({ ...f, sha256: '0'.repeat(64) })) };
    const small = new RestoreRunner({
      storage,
      sink: new EngineRestoreSink(await fixtures.engine()),
      verified: true,
      batchSize: 10,
    });
    await expect(small.run(forged)).rejects.toMatchObject({ code: 'ChecksumMismatch' });
  });

  it('backs up and restores the raw pairs of a CF', async () => {
    const { engine, endpoint, regionInfo } = await fixtures.endpoint();
    regionInfo.setRegions(leaderRegions([['', '', 1]]));
    await engine.put(CF_LOCK, b('raw-1'), b('one'));
    await engine.put(CF_LOCK, b('raw-2'), b('two'));
    const { meta, storage } = await backup(endpoint, {
      storage: fixtures.storageUrl(),
      cf: 'lock',
      isRawKv: true,
    });
    expect(meta.files[0]!.kind).toBe('raw');
    const target = await fixtures.engine();
    await new RestoreRunner({ storage, sink: new EngineRestoreSink(target) }).run(meta);
    const pairs = [];
    for await (const e of target.iterate(CF_LOCK)) pairs.push(`${e.key.toString()}=${e.value.toString()}`);
    expect(pairs).toEqual(['raw-1=one', 'raw-2=two']);
  });

  it('builds no meta for a backup with a failed range', () => {
    const req = request({ storage: 'noop://' });
    expect(() =>
      buildBackupMeta(req, [
        {
          startKey: b(''),
          endKey: b(''),
          files: [],
          error: { code: 'Locked', message: 'key k is locked', details: {} },
        },
      ]),
    ).toThrow(/1 failed range\(s\): Locked: key k is locked/);
  });
});

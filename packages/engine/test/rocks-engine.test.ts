import { InvalidArgumentError, InvalidCfError, ServerIsBusyError, keyRange } from '@regionstore/core';
import { CF_DEFAULT, CF_LOCK, CF_RAFT, DELETE_STRATEGIES, WriteBatch } from '@regionstore/engine';
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { b, collect, keysOf, useEngines } from './helpers';

const logEngines = useEngines('rocks-engine-logs');

const engines = useEngines('engine');

describe('RocksEngine', () => {
  it('keeps column families apart', async () => {
    const engine = await engines.open();
    await engine.put(CF_DEFAULT, b('k'), b('data'));
    await engine.put(CF_LOCK, b('k'), b('lock'));
    expect((await engine.get(CF_DEFAULT, b('k')))?.toString()).toBe('data');
    expect((await engine.get(CF_LOCK, b('k')))?.toString()).toBe('lock');
    expect(await engine.get(CF_RAFT, b('k'))).toBeUndefined();
    await engine.delete(CF_LOCK, b('k'));
    expect(await engine.get(CF_LOCK, b('k'))).toBeUndefined();
    expect((await engine.get(CF_DEFAULT, b('k')))?.toString()).toBe('data');
  });

  it('rejects unknown column families with InvalidCf before writing anything', async () => {
    const engine = await engines.open();
    const batch = new WriteBatch().put(CF_DEFAULT, b('a'), b('1'));
    expect(() => batch.put('nope', b('b'), b('2'))).toThrow(InvalidCfError);
    await expect(engine.get('nope' as never, b('a'))).rejects.toThrow(InvalidCfError);
    expect(() => new WriteBatch().deleteRange(CF_DEFAULT, b('b'), b('a'))).toThrow(InvalidArgumentError);
  });

  it('applies a batch across column families atomically and moves the sequence by one', async () => {
    const engine = await engines.open();
    const before = engine.latestSequence();
    const snap = engine.snapshot();
    const batch = new WriteBatch()
      .put(CF_DEFAULT, b('a'), b('1'))
      .put(CF_LOCK, b('a'), b('L'))
      .put(CF_RAFT, b('state'), b('S'));
    await engine.write(batch);
    expect(engine.latestSequence()).toBe(before + 1);
    // The snapshot from before sees none of it, the engine all of it.
    expect(await snap.getMany(CF_DEFAULT, [b('a')])).toEqual([undefined]);
    expect(await snap.get(CF_LOCK, b('a'))).toBeUndefined();
    expect(await snap.get(CF_RAFT, b('state'))).toBeUndefined();
    expect((await engine.getMany(CF_DEFAULT, [b('a'), b('zz')])).map((v) => v?.toString())).toEqual([
      '1',
      undefined,
    ]);
    expect((await engine.get(CF_LOCK, b('a')))?.toString()).toBe('L');
    expect((await engine.get(CF_RAFT, b('state')))?.toString()).toBe('S');
    await snap.release();
  });

  it('snapshots keep seeing old values after writes and range deletes, and track sequences', async () => {
    const engine = await engines.open();
    for (const k of ['a', 'b', 'c', 'd']) await engine.put(CF_DEFAULT, b(k), b(`${k}1`));
    expect(engine.oldestSnapshotSequence()).toBeUndefined();
    const first = engine.snapshot();
    await engine.put(CF_DEFAULT, b('a'), b('a2'));
    await engine.deleteRanges(CF_DEFAULT, 'DeleteByRange', [keyRange('b', 'd')]);
    const second = engine.snapshot();
    expect(second.sequence).toBeGreaterThan(first.sequence);
    expect(engine.oldestSnapshotSequence()).toBe(first.sequence);

    expect((await first.get(CF_DEFAULT, b('a')))?.toString()).toBe('a1');
    expect((await collect(first.iterate(CF_DEFAULT))).map((e) => e.key.toString())).toEqual([
      'a',
      'b',
      'c',
      'd',
    ]);
    expect(await keysOf(engine, CF_DEFAULT)).toEqual(['a', 'd']);
    expect((await second.get(CF_DEFAULT, b('a')))?.toString()).toBe('a2');

    await first.release();
    expect(engine.oldestSnapshotSequence()).toBe(second.sequence);
    await second.release();
    expect(engine.oldestSnapshotSequence()).toBeUndefined();
    await expect(collect(first.iterate(CF_DEFAULT))).rejects.toThrow(/after release/);
  });

  it('iterates forward, backward, with bounds and limits', async () => {
    const engine = await engines.open();
    const batch = new WriteBatch();
    for (let i = 0; i < 50; i++) batch.put(CF_DEFAULT, b(`k${String(i).padStart(2, '0')}`), b(String(i)));
    await engine.write(batch);
    const keys = async (opts: Parameters<typeof engine.iterate>[1]) =>
      (await collect(engine.iterate(CF_DEFAULT, opts))).map((e) => e.key.toString());
    expect(await keys({ start: b('k10'), end: b('k13') })).toEqual(['k10', 'k11', 'k12']);
    expect(await keys({ start: b('k47') })).toEqual(['k47', 'k48', 'k49']);
    expect(await keys({ end: b('k02') })).toEqual(['k00', 'k01']);
    expect(await keys({ reverse: true, limit: 3 })).toEqual(['k49', 'k48', 'k47']);
    expect(await keys({ start: b('k10'), end: b('k20'), reverse: true, limit: 2 })).toEqual(['k19', 'k18']);
    expect(await keys({ limit: 0 })).toEqual([]);
    expect((await keys({ batchSize: 7 })).length).toBe(50);
  });

  it.each(DELETE_STRATEGIES)('%s deletes every key in the ranges and nothing else', async (strategy) => {
    const engine = await engines.open();
    const batch = new WriteBatch();
    for (let i = 0; i < 300; i++)
      batch.put(CF_DEFAULT, b(`k${String(i).padStart(3, '0')}`), Buffer.alloc(100, i));
    batch.put(CF_LOCK, b('k100'), b('lock'));
    await engine.write(batch);
    await engine.flush(CF_DEFAULT);
    await engine.deleteRanges(CF_DEFAULT, strategy, [
      keyRange('k010', 'k020'),
      keyRange('k100', 'k250'),
      keyRange('k290', ''),
    ]);
    const left = await keysOf(engine, CF_DEFAULT);
    expect(left).toHaveLength(300 - 10 - 150 - 10);
    expect(left).toContain('k009');
    expect(left).toContain('k020');
    expect(left).toContain('k250');
    expect(left).toContain('k289');
    expect(left.some((k) => (k >= 'k010' && k < 'k020') || (k >= 'k100' && k < 'k250') || k >= 'k290')).toBe(
      false,
    );
    expect((await engine.get(CF_LOCK, b('k100')))?.toString()).toBe('lock');
  });

  it('counts L0 files per flush and applies the slowdown rule', async () => {
    // Rule thresholds below RocksDB's own compaction trigger (4), so no background compaction races us.
    const engine = await engines.open({ level0SlowdownWritesTrigger: 4, level0FileNumCompactionTrigger: 2 });
    expect(await engine.numFilesAtLevel(CF_DEFAULT, 0)).toBe(0);
    const flags: boolean[] = [];
    for (let i = 0; i < 3; i++) {
      await engine.put(CF_DEFAULT, b(`k${i}`), b('v'));
      await engine.flush(CF_DEFAULT);
      flags.push(await engine.ingestMaybeSlowdownWrites(CF_DEFAULT));
    }
    expect(await engine.numFilesAtLevel(CF_DEFAULT, 0)).toBe(3);
    // > 4 / 2 and >= 2: true from the third file on.
    expect(flags).toEqual([false, false, true]);
    expect(await engine.numFilesAtLevel(CF_LOCK, 0)).toBe(0);
    expect(await engine.ingestMaybeSlowdownWrites(CF_LOCK)).toBe(false);
    await engine.compactRange(CF_DEFAULT, Buffer.alloc(0), Buffer.alloc(0));
    expect(await engine.numFilesAtLevel(CF_DEFAULT, 0)).toBe(0);
    expect(await engine.ingestMaybeSlowdownWrites(CF_DEFAULT)).toBe(false);
  });

  it('reports its memory: memtables fill with writes and empty on flush, reads fill the block cache', async () => {
    const engine = await engines.open();
    const before = await engine.memoryUsage();
    for (let i = 0; i < 2000; i++) await engine.put(CF_DEFAULT, b(`k${i}`), Buffer.alloc(100, 1));
    const written = await engine.memoryUsage();
    expect(written.memtables).toBeGreaterThan(before.memtables + 200_000);
    await engine.flush(CF_DEFAULT);
    for (let i = 0; i < 2000; i += 10) await engine.get(CF_DEFAULT, b(`k${i}`));
    const flushed = await engine.memoryUsage();
    expect(flushed.memtables).toBeLessThan(written.memtables);
    expect(flushed.blockCache).toBeGreaterThan(before.blockCache);
  });

  it('estimates the size of a range', async () => {
    const engine = await engines.open();
    const batch = new WriteBatch();
    for (let i = 0; i < 1000; i++)
      batch.put(CF_DEFAULT, b(`k${String(i).padStart(4, '0')}`), Buffer.alloc(1000, 1));
    await engine.write(batch);
    await engine.flush(CF_DEFAULT);
    const all = await engine.approximateSize(CF_DEFAULT, Buffer.alloc(0), Buffer.alloc(0));
    expect(all).toBeGreaterThan(100_000);
    expect(await engine.approximateSize(CF_LOCK, Buffer.alloc(0), Buffer.alloc(0))).toBe(0);
  });

  it('estimates the entries of a column family, in memtables and in files', async () => {
    const engine = await engines.open();
    expect(await engine.estimateNumKeys(CF_DEFAULT)).toBe(0);
    const batch = new WriteBatch();
    for (let i = 0; i < 3000; i++) batch.put(CF_DEFAULT, b(`k${String(i).padStart(5, '0')}`), b('v'));
    await engine.write(batch);
    expect(await engine.estimateNumKeys(CF_DEFAULT)).toBe(3000);
    await engine.flush(CF_DEFAULT);
    const flushed = await engine.estimateNumKeys(CF_DEFAULT);
    expect(flushed).toBeGreaterThan(2700);
    expect(flushed).toBeLessThan(3300);
    expect(await engine.estimateNumKeys(CF_LOCK)).toBe(0);
  });

  it('fails every operation with ServerIsBusy while paused', async () => {
    const engine = await engines.open();
    engine.pause(10_000);
    await expect(engine.get(CF_DEFAULT, b('a'))).rejects.toThrow(ServerIsBusyError);
    await expect(engine.put(CF_DEFAULT, b('a'), b('1'))).rejects.toThrow(ServerIsBusyError);
    expect(() => engine.snapshot()).toThrow(ServerIsBusyError);
    engine.pause(0);
    await engine.put(CF_DEFAULT, b('a'), b('1'));
  });

  it('keeps data across close and reopen', async () => {
    const engine = await engines.open();
    await engine.put(CF_RAFT, b('x'), b('y'));
    await engine.close();
    await expect(engine.get(CF_RAFT, b('x'))).rejects.toThrow(/closed/);
    const reopened = await engines.open({ path: engine.path } as never);
    expect((await reopened.get(CF_RAFT, b('x')))?.toString()).toBe('y');
  });
});

describe('RocksDB log files', () => {
  const logBytes = (path: string) =>
    readdirSync(path)
      .filter((name) => name.endsWith('.log'))
      .reduce((sum, name) => sum + statSync(join(path, name)).size, 0);

  it('stay bounded by maxTotalWalBytes while a small CF takes a write in every batch', async () => {
    const MiB = 1024 * 1024;
    const engine = await logEngines.open({ maxTotalWalBytes: 4 * MiB });
    const value = randomBytes(1024);
    for (let i = 0; i < 32 * 1024; i++) {
      // A version in `default` and an apply state in `raft`, as every applied write does.
      const batch = new WriteBatch()
        .put(CF_DEFAULT, b(`k${String(i).padStart(8, '0')}`), value)
        .put(CF_RAFT, b('apply-state'), b(String(i)));
      await engine.write(batch);
    }
    await new Promise((r) => setTimeout(r, 500)); // the last flush, and RocksDB deleting the logs
    // 32 MiB written; RocksDB on its own keeps every log here (its default bound is 4 × 64 MiB × CFs).
    expect(logBytes(engine.path)).toBeLessThan(12 * MiB);
    expect((await engine.get(CF_DEFAULT, b('k00000000')))?.equals(value)).toBe(true);
  });
});

import { compareKeys, keyRange, MAX_TIMESTAMP, type KeyRange, type Timestamp } from '@regionstore/core';
import {
  CF_DEFAULT,
  CF_LATEST,
  CF_RAFT,
  LATEST_BUILT_KEY,
  encodeVersion,
  ensureLatestBuilt,
  firstNewerThan,
  VersionWriter,
  WriteBatch,
  decodeLatest,
  dropLatestDeletes,
  latestEntryOf,
  mvccGetMany,
  mvccRange,
  type KvEngine,
  decodeBytes,
  decodeMvccKey,
  deleteVersion,
  encodeBytes,
  mvccGc,
  mvccGet,
  mvccIncrementalScan,
  mvccKey,
  mvccScan,
  putVersion,
  tsSuffix,
  versionKey,
  VersionsAt,
} from '@regionstore/engine';
import fc from 'fast-check';
import { b, collect, useEngines } from './helpers';

const engines = useEngines('mvcc');

/** The reference: every version ever written, per key. */
class Model {
  readonly versions = new Map<string, Array<{ ts: bigint; value: Buffer | undefined }>>();

  newestTs(key: Buffer): bigint | undefined {
    const list = this.versions.get(key.toString('hex')) ?? [];
    return list.reduce<bigint | undefined>(
      (max, v) => (max === undefined || v.ts > max ? v.ts : max),
      undefined,
    );
  }

  write(key: Buffer, ts: bigint, value: Buffer | undefined) {
    const list = this.versions.get(key.toString('hex')) ?? [];
    list.push({ ts, value });
    this.versions.set(key.toString('hex'), list);
  }

  get(key: Buffer, ts: bigint): Buffer | undefined {
    const list = (this.versions.get(key.toString('hex')) ?? []).filter((v) => v.ts <= ts);
    list.sort((x, y) => (x.ts < y.ts ? 1 : -1));
    return list[0]?.value;
  }

  scan(start: Buffer, end: Buffer, ts: bigint): Array<[string, string]> {
    const keys = [...this.versions.keys()]
      .map((hex) => Buffer.from(hex, 'hex'))
      .filter((k) => compareKeys(k, start) >= 0 && (end.length === 0 || compareKeys(k, end) < 0))
      .sort(compareKeys);
    const out: Array<[string, string]> = [];
    for (const key of keys) {
      const value = this.get(key, ts);
      if (value !== undefined) out.push([key.toString('hex'), value.toString('hex')]);
    }
    return out;
  }
}

const pairs = (entries: Array<{ key: Buffer; value: Buffer }>) =>
  entries.map((e) => [e.key.toString('hex'), e.value.toString('hex')]);

/**
 * The `latest` CF's invariant, checked on the raw CFs: per key, where its newest version in `default`
 * is (type and ts). Right after GC, a delete GC dropped may still be there (`gcPending`).
 */
async function expectLatestMatchesVersions(engine: KvEngine, range: KeyRange, gcPending: boolean) {
  const expected = new Map<string, string>();
  for await (const entry of engine.iterate(CF_DEFAULT, mvccRange(range))) {
    const latest = latestEntryOf(entry.key, entry.value);
    const id = latest.key.toString('hex');
    if (!expected.has(id)) expected.set(id, latest.value.toString('hex'));
  }
  const actual = new Map<string, string>();
  for await (const entry of engine.iterate(CF_LATEST, mvccRange(range))) {
    actual.set(entry.key.toString('hex'), entry.value.toString('hex'));
  }
  for (const [id, value] of expected) expect(actual.get(id)).toBe(value);
  for (const [id, value] of actual) {
    if (expected.has(id)) continue;
    expect(gcPending).toBe(true);
    expect(decodeLatest(Buffer.from(value, 'hex')).type).toBe(0x44); // a delete
  }
}

const keyArb = fc.uint8Array({ minLength: 0, maxLength: 12 }).map((a) => Buffer.from(a));
const opArb = fc.record({
  key: fc.oneof(keyArb, fc.constantFrom(b('a'), b('a\x00'), b('ab'), Buffer.alloc(8, 0xff), Buffer.alloc(0))),
  ts: fc.bigInt({ min: 1n, max: 60n }),
  value: fc.option(
    fc.uint8Array({ maxLength: 6 }).map((a) => Buffer.from(a)),
    { nil: undefined },
  ),
});

/** A batch of versions in `default` as an older engine wrote them; `more` adds what else it kept. */
function olderVersions(
  versions: ReadonlyArray<readonly [string, bigint, string | undefined]>,
  more: (batch: WriteBatch, raw: { key: Buffer; value: Buffer }) => void,
): WriteBatch {
  const batch = new WriteBatch();
  for (const [key, ts, value] of versions) {
    const raw = encodeVersion({ key: b(key), ts, value: value === undefined ? undefined : b(value) });
    batch.put(CF_DEFAULT, raw.key, raw.value);
    more(batch, raw);
  }
  return batch;
}

describe('memcomparable keys', () => {
  it('preserve order and round-trip', () => {
    fc.assert(
      fc.property(keyArb, keyArb, (x, y) => {
        expect(decodeBytes(encodeBytes(x)).key.equals(x)).toBe(true);
        expect(Math.sign(compareKeys(encodeBytes(x), encodeBytes(y)))).toBe(Math.sign(compareKeys(x, y)));
      }),
    );
  });

  it('pad with zeros whatever the memory they are encoded into held', () => {
    // Keys are encoded into Node's shared allocation pool: dirty it first
    Buffer.allocUnsafe(64).fill(0xee);
    expect(encodeBytes(b('abc')).toString('hex')).toBe('616263' + '0000000000' + 'fa');
    expect(encodeBytes(b('abcdefgh')).toString('hex')).toBe('6162636465666768ff' + '0000000000000000f7');
    expect(mvccKey(b('a'), MAX_TIMESTAMP - 1n).toString('hex')).toBe(
      '7a' + '61' + '00000000000000' + 'f8' + '0000000000000001',
    );
  });

  it('write the versions of one ts as one version at a time would', () => {
    const ts = 1_000_000_007n;
    const together = new VersionsAt(ts);
    const shared = new WriteBatch();
    together.write(shared, b('k1'), b('v1'));
    together.write(shared, b('k2'), undefined);
    together.write(shared, b('a-longer-key-than-a-group'), b(''));
    const apart = new WriteBatch();
    putVersion(apart, b('k1'), ts, b('v1'));
    deleteVersion(apart, b('k2'), ts);
    putVersion(apart, b('a-longer-key-than-a-group'), ts, b(''));
    const bytes = (batch: WriteBatch) =>
      batch.ops.map((op) =>
        op.type === 'put' ? [op.cf, op.key.toString('hex'), op.value.toString('hex')] : [],
      );
    expect(bytes(shared)).toEqual(bytes(apart));
    // a CF tag first, as snapshot and delta files store keys
    expect(
      versionKey(b('k1'), tsSuffix(ts), 0).equals(Buffer.concat([Buffer.from([0]), mvccKey(b('k1'), ts)])),
    ).toBe(true);
  });

  it('sort versions newest first and never interleave keys', () => {
    const keys = [
      mvccKey(b('a'), 5n),
      mvccKey(b('a'), 9n),
      mvccKey(b('a\x00'), 1n),
      mvccKey(b('ab'), 7n),
    ].sort(compareKeys);
    expect(keys.map((k) => decodeMvccKey(k)).map((d) => `${d.key.toString()}@${d.ts}`)).toEqual([
      'a@9',
      'a@5',
      'a\x00@1',
      'ab@7',
    ]);
    expect(decodeMvccKey(mvccKey(b('x'), MAX_TIMESTAMP)).ts).toBe(MAX_TIMESTAMP);
  });
});

describe('MVCC reads', () => {
  it('match an in-memory model for any history (get, scan, incremental, gc)', async () => {
    const engine = await engines.open();
    let round = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 1, maxLength: 40 }),
        fc.bigInt({ min: 0n, max: 70n }),
        fc.bigInt({ min: 0n, max: 70n }),
        fc.integer({ min: 1, max: 8 }),
        async (ops, readTs, safePoint, split) => {
          // Each run uses its own key prefix in one engine, so runs never see each other.
          const prefix = Buffer.from(`r${round++}/`);
          const model = new Model();
          const seen = new Set<string>();
          // Versions arrive in any ts order, a few batches at a time: a version above everything its
          // key has is written as the newest (the write path), any other as an older one (a restore).
          let writer = new VersionWriter(engine);
          for (const [i, op] of ops.entries()) {
            const key = Buffer.concat([prefix, op.key]);
            const id = `${key.toString('hex')}@${op.ts}`;
            if (seen.has(id)) continue; // one version per (key, ts), as commit timestamps are unique
            seen.add(id);
            const newest = model.newestTs(key) ?? -1n;
            model.write(key, op.ts, op.value);
            const version = { key, ts: op.ts, value: op.value };
            if (op.ts > newest && i % 2 === 0) writer.write(version);
            else await writer.writeOlder([version]);
            if (i % split === 0) {
              await engine.write(writer.batch);
              writer = new VersionWriter(engine);
            }
          }
          await engine.write(writer.batch);
          const range = keyRange(prefix, Buffer.concat([prefix, Buffer.alloc(13, 0xff)]));
          await expectLatestMatchesVersions(engine, range, false);

          for (const hex of model.versions.keys()) {
            const key = Buffer.from(hex, 'hex');
            expect((await mvccGet(engine, key, readTs))?.toString('hex')).toBe(
              model.get(key, readTs)?.toString('hex'),
            );
            expect((await mvccGet(engine, key))?.toString('hex')).toBe(
              model.get(key, MAX_TIMESTAMP)?.toString('hex'),
            );
            // The seek path agrees with the latest-version path.
            expect((await mvccGet(engine, key, MAX_TIMESTAMP - 1n))?.toString('hex')).toBe(
              model.get(key, MAX_TIMESTAMP)?.toString('hex'),
            );
          }
          const keys = [...model.versions.keys()].map((hex) => Buffer.from(hex, 'hex'));
          expect((await mvccGetMany(engine, keys)).map((v) => v?.toString('hex'))).toEqual(
            keys.map((key) => model.get(key, MAX_TIMESTAMP)?.toString('hex')),
          );
          expect((await mvccGetMany(engine, keys, readTs)).map((v) => v?.toString('hex'))).toEqual(
            keys.map((key) => model.get(key, readTs)?.toString('hex')),
          );
          for (const reverse of [false, true]) {
            expect(pairs(await collect(mvccScan(engine, range, MAX_TIMESTAMP, { reverse })))).toEqual(
              pairs(await collect(mvccScan(engine, range, MAX_TIMESTAMP - 1n, { reverse }))),
            );
          }
          const scanned = (await collect(mvccScan(engine, range, readTs))).map((e) => [
            e.key.toString('hex'),
            e.value.toString('hex'),
          ]);
          expect(scanned).toEqual(model.scan(range.start, range.end, readTs));
          const reversed = (await collect(mvccScan(engine, range, readTs, { reverse: true }))).map((e) => [
            e.key.toString('hex'),
            e.value.toString('hex'),
          ]);
          expect(reversed).toEqual([...scanned].reverse());
          const lastTwo = await collect(mvccScan(engine, range, readTs, { reverse: true, limit: 2 }));
          expect(lastTwo.map((e) => e.key.toString('hex'))).toEqual(
            [...scanned]
              .reverse()
              .slice(0, 2)
              .map(([k]) => k),
          );

          // Incremental (0, readTs]: per key the newest change at or below readTs, deletes included.
          const changes = await collect(mvccIncrementalScan(engine, range, 0n, readTs));
          for (const change of changes) {
            expect(change.value?.toString('hex')).toBe(model.get(change.key, readTs)?.toString('hex'));
          }

          // GC at the safe point leaves every read at or above it unchanged.
          const before = new Map<bigint, unknown>();
          const probes: Timestamp[] = [safePoint, safePoint + 5n, MAX_TIMESTAMP];
          for (const ts of probes) before.set(ts, await collect(mvccScan(engine, range, ts)));
          const gc = await mvccGc(engine, range, safePoint);
          await expectLatestMatchesVersions(engine, range, true);
          await dropLatestDeletes(engine, gc.newestDeletes);
          await expectLatestMatchesVersions(engine, range, false);
          for (const ts of probes) {
            expect(
              (await collect(mvccScan(engine, range, ts))).map((e) => [
                e.key.toString('hex'),
                e.value.toString('hex'),
              ]),
            ).toEqual(
              (before.get(ts) as Array<{ key: Buffer; value: Buffer }>).map((e) => [
                e.key.toString('hex'),
                e.value.toString('hex'),
              ]),
            );
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('builds the latest versions once for an engine written before they existed', async () => {
    const engine = await engines.open();
    // What an older engine holds: versions in `default` only, and no marker.
    const old = olderVersions(
      [
        ['a', 1n, 'a1'],
        ['a', 3n, 'a3'],
        ['b', 2n, undefined],
        ['c', 1n, 'c1'],
      ],
      () => undefined,
    );
    old.delete(CF_RAFT, LATEST_BUILT_KEY);
    await engine.write(old);
    expect(await mvccGet(engine, b('a'))).toBeUndefined();
    expect(await ensureLatestBuilt(engine)).toBe(3);
    expect((await mvccGetMany(engine, [b('a'), b('b'), b('c')])).map((v) => v?.toString())).toEqual([
      'a3',
      undefined,
      'c1',
    ]);
    await expectLatestMatchesVersions(engine, keyRange(b(''), b('')), false);
    // Once built, never again.
    expect(await ensureLatestBuilt(engine)).toBe(0);
  });

  it('rebuilds latest once from an engine whose latest held copies of the values (format 1)', async () => {
    const engine = await engines.open();
    const old = olderVersions(
      [
        ['a', 1n, 'a1'],
        ['a', 3n, 'a3'],
        ['b', 2n, undefined],
      ],
      (batch, raw) => {
        // Format 1: the version's value, then its ts suffix.
        const split = raw.key.length - 8;
        batch.put(CF_LATEST, raw.key.subarray(0, split), Buffer.concat([raw.value, raw.key.subarray(split)]));
      },
    );
    old.put(CF_RAFT, LATEST_BUILT_KEY, Buffer.from([1]));
    await engine.write(old);
    await expect(mvccGet(engine, b('a'))).rejects.toMatchObject({ code: 'CorruptFile' });
    expect(await ensureLatestBuilt(engine)).toBe(2);
    expect((await mvccGetMany(engine, [b('a'), b('b')])).map((v) => v?.toString())).toEqual([
      'a3',
      undefined,
    ]);
    expect((await collect(mvccScan(engine, keyRange()))).map((e) => e.value.toString())).toEqual(['a3']);
    await expectLatestMatchesVersions(engine, keyRange(b(''), b('')), false);
    expect(await ensureLatestBuilt(engine)).toBe(0);
  });

  /** a@10, b@10 deleted at 20, c@30, d@5. */
  async function fourKeys() {
    const engine = await engines.open();
    const batch = new WriteBatch();
    putVersion(batch, b('a'), 10n, b('a10'));
    putVersion(batch, b('b'), 10n, b('b10'));
    deleteVersion(batch, b('b'), 20n);
    putVersion(batch, b('c'), 30n, b('c30'));
    putVersion(batch, b('d'), 5n, b('d5'));
    await engine.write(batch);
    return engine;
  }

  it('scan honours limits and skips deleted keys', async () => {
    const engine = await fourKeys();
    const at = async (ts: bigint, limit?: number) =>
      (await collect(mvccScan(engine, keyRange(), ts, limit === undefined ? {} : { limit }))).map((e) =>
        e.key.toString(),
      );
    expect(await at(15n)).toEqual(['a', 'b', 'd']);
    expect(await at(25n)).toEqual(['a', 'd']);
    expect(await at(40n)).toEqual(['a', 'c', 'd']);
    expect(await at(40n, 2)).toEqual(['a', 'c']);
    const inc = await collect(mvccIncrementalScan(engine, keyRange(), 10n, 30n));
    expect(inc.map((v) => `${v.key}@${v.ts}:${v.value ?? 'DEL'}`)).toEqual(['b@20:DEL', 'c@30:c30']);
  });

  it('finds the first key whose newest version is newer than a ts, deletes included', async () => {
    const engine = await fourKeys();
    const first = async (ts: bigint, range = keyRange()) => {
      const found = await firstNewerThan(engine, range, ts);
      return found && `${found.key.toString()}@${found.ts}`;
    };
    expect(await first(30n)).toBeUndefined();
    expect(await first(25n)).toBe('c@30');
    expect(await first(15n)).toBe('b@20');
    expect(await first(5n)).toBe('a@10');
    expect(await first(5n, keyRange(b('c'), b('d')))).toBe('c@30');
    expect(await first(5n, keyRange(b('d')))).toBeUndefined();
    // nothing newer: every key read and counted; a stopped scan ends at once
    const scanned = { keys: 0 };
    expect(await firstNewerThan(engine, keyRange(), 30n, { scanned })).toBeUndefined();
    expect(scanned.keys).toBe(4);
    const stopped = new AbortController();
    stopped.abort(new Error('node stopping'));
    await expect(firstNewerThan(engine, keyRange(), 30n, { signal: stopped.signal })).rejects.toThrow(
      'node stopping',
    );
  });

  it('gc drops old versions and tombstones at the safe point', async () => {
    const engine = await engines.open();
    const batch = new WriteBatch();
    putVersion(batch, b('a'), 10n, b('a10'));
    putVersion(batch, b('a'), 20n, b('a20'));
    putVersion(batch, b('a'), 30n, b('a30'));
    putVersion(batch, b('b'), 10n, b('b10'));
    deleteVersion(batch, b('b'), 20n);
    await engine.write(batch);
    const { deleted } = await mvccGc(engine, keyRange(), 25n);
    // a@10 (shadowed by a@20), b@20 (tombstone) and b@10 (under it).
    expect(deleted).toBe(3);
    expect((await mvccGet(engine, b('a'), 25n))?.toString()).toBe('a20');
    // Below the safe point history is gone: a@10 no longer exists.
    expect(await mvccGet(engine, b('a'), 15n)).toBeUndefined();
    expect(await mvccGet(engine, b('b'), 25n)).toBeUndefined();
    expect((await mvccGet(engine, b('a')))?.toString()).toBe('a30');
  });

  it('gc drops a delete together with the versions under it, never leaving the older value visible', async () => {
    const engine = await engines.open();
    const batch = new WriteBatch();
    // 1023 shadowed versions to drop first, so the delete of "z" is the 1024th: a batch's worth.
    for (let i = 0; i < 1023; i++) {
      const key = b(`k${String(i).padStart(4, '0')}`);
      putVersion(batch, key, 5n, b('old'));
      putVersion(batch, key, 8n, b('new'));
    }
    putVersion(batch, b('z'), 5n, b('z5'));
    deleteVersion(batch, b('z'), 10n);
    await engine.write(batch);
    // What a reader at the safe point (or a flush's snapshot) sees of "z" after each GC write.
    const seen: Array<string | undefined> = [];
    const watched = Object.create(engine) as KvEngine;
    watched.write = async (written) => {
      await engine.write(written);
      seen.push((await mvccGet(engine, b('z'), 15n))?.toString());
    };
    expect((await mvccGc(watched, keyRange(), 15n)).deleted).toBe(1025);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((value) => value === undefined)).toBe(true);
  });

  it('gc writes the versions under a visible value of one key in batches of a bounded size', async () => {
    const engine = await engines.open();
    const batch = new WriteBatch();
    for (let ts = 1n; ts <= 2500n; ts++) putVersion(batch, b('hot'), ts, b(`v${ts}`));
    await engine.write(batch);
    const sizes: number[] = [];
    const watched = Object.create(engine) as KvEngine;
    watched.write = async (written) => {
      sizes.push(written.count);
      await engine.write(written);
    };
    expect((await mvccGc(watched, keyRange(), 3000n)).deleted).toBe(2499);
    expect(sizes.length).toBeGreaterThan(2);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(1024);
    expect((await mvccGet(engine, b('hot'), 3000n))?.toString()).toBe('v2500');
  });
});

import { InvalidArgumentError } from '@regionstore/core';
import { ScrambledZipfianGenerator, ZipfianGenerator, fnvhash64, hashHex, hashModulo } from '../src/zipfian';
import { YcsbKeys, loadRecords, parseWorkloads, runWorkload, type YcsbStore } from '../src/ycsb';

/** A seeded source, so the distribution checks do not flake. */
function seeded(seed = 42): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

/** An in-process store over a sorted map, counting what the workloads ask of it. */
function mapStore(): YcsbStore & { data: Map<string, Buffer>; calls: Record<string, number> } {
  const data = new Map<string, Buffer>();
  const calls: Record<string, number> = { read: 0, write: 0, scan: 0 };
  return {
    data,
    calls,
    read: async (key) => (calls['read']!++, data.get(key.toString('hex'))),
    write: async (entries) => {
      calls['write']!++;
      for (const e of entries) data.set(e.key.toString('hex'), e.value);
    },
    scan: async (start, end, limit) => {
      calls['scan']!++;
      const [from, to] = [start.toString('hex'), end.toString('hex')];
      return [...data.keys()].filter((k) => k >= from && k < to).slice(0, limit).length;
    },
  };
}

describe('YCSB key choosers', () => {
  it('zipfian: item 0 is the most popular and a tenth of the items draw most of the load', () => {
    const zipf = new ZipfianGenerator(1000, undefined, seeded());
    const counts = new Array<number>(1000).fill(0);
    for (let i = 0; i < 100_000; i++) counts[zipf.next()]!++;
    expect(Math.max(...counts)).toBe(counts[0]);
    const top = counts.slice(0, 100).reduce((a, b) => a + b, 0);
    expect(top / 100_000).toBeGreaterThan(0.6);
  });

  it('scrambled zipfian stays in range and scatters the popular items', () => {
    const gen = new ScrambledZipfianGenerator(10_000, seeded(7));
    const counts = new Map<number, number>();
    let outside = 0;
    for (let i = 0; i < 50_000; i++) {
      const item = gen.next();
      if (!(Number.isInteger(item) && item >= 0 && item < 10_000)) outside++;
      counts.set(item, (counts.get(item) ?? 0) + 1);
    }
    expect(outside).toBe(0);
    const popular = [...counts].sort((a, b) => b[1] - a[1]).slice(0, 10);
    // Skewed: the ten most popular of 10,000 items draw far more than their 0.1 %.
    expect(popular.reduce((n, [, c]) => n + c, 0) / 50_000).toBeGreaterThan(0.05);
    // Scattered: they are not the first items of the range.
    expect(popular.filter(([item]) => item < 100).length).toBeLessThan(5);
  });

  it('fnvhash64 is FNV-1 over 8 little-endian bytes, made non-negative, as bigint arithmetic has it', () => {
    const reference = (value: number): bigint => {
      let v = BigInt(value);
      let hash = 0xcbf29ce484222325n;
      for (let i = 0; i < 8; i++) {
        hash ^= v & 0xffn;
        hash = (hash * 1099511628211n) & ((1n << 64n) - 1n);
        v >>= 8n;
      }
      return hash >= 1n << 63n ? (1n << 64n) - hash : hash;
    };
    const values = [0, 1, 255, 256, 65_535, 2 ** 31, 2 ** 32 + 5, 9_999_999_999];
    for (let i = 0; i < 2000; i++) values.push(Math.floor(seeded(i)() * 1e10));
    for (const value of values) {
      const hash = fnvhash64(value);
      expect(BigInt(`0x${hashHex(hash)}`)).toBe(reference(value));
      expect(hashModulo(hash, 1_000_003)).toBe(Number(reference(value) % 1_000_003n));
    }
  });
});

describe('YCSB workloads', () => {
  const keys = new YcsbKeys([Buffer.from('a/'), Buffer.from('m/')]);
  const options = { records: 500, operations: 2000, concurrency: 8, valueSize: 1000, cores: 2 };

  it('names only the core workloads', () => {
    expect(parseWorkloads('a, B,c')).toEqual(['a', 'b', 'c']);
    expect(() => parseWorkloads('a,d')).toThrow(InvalidArgumentError);
  });

  it('loads every record under the region prefixes, then runs each mix in its proportions', async () => {
    const store = mapStore();
    await loadRecords(store, keys, options);
    expect(store.data.size).toBe(500);
    expect([...store.data.keys()].every((k) => /^(612f|6d2f)75736572/.test(k))).toBe(true);

    const a = await runWorkload(store, keys, 'a', options);
    expect(a.operations).toBe(2000);
    expect(a.latency.read!.count + a.latency.update!.count).toBe(2000);
    expect(a.latency.read!.count / 2000).toBeGreaterThan(0.4);
    expect(a.latency.read!.count / 2000).toBeLessThan(0.6);
    // Both figures are rounded on their own, so they may differ by one in the last place.
    expect(Math.abs(a.opsPerSecPerCore - a.opsPerSec / 2)).toBeLessThanOrEqual(1);

    const c = await runWorkload(store, keys, 'c', options);
    expect(Object.keys(c.latency)).toEqual(['read']);

    const before = store.calls['read']!;
    const f = await runWorkload(store, keys, 'f', options);
    // a read-modify-write reads, then writes
    expect(store.calls['read']! - before).toBe(f.latency.read!.count + f.latency.rmw!.count);

    const e = await runWorkload(store, keys, 'e', options);
    expect(e.latency.scan!.count).toBeGreaterThan(1800);
    expect(e.inserted).toBe(e.latency.insert!.count);
    expect(store.data.size).toBe(500 + e.inserted);
  });

  it('fails the run when a loaded record cannot be read back', async () => {
    const store = mapStore();
    await loadRecords(store, keys, { ...options, records: 10 });
    store.data.delete(keys.key(3).toString('hex'));
    await expect(runWorkload(store, keys, 'c', { ...options, records: 10, operations: 500 })).rejects.toThrow(
      /record 3 is missing/,
    );
  });
});

import { RegionGrowth } from '@regionstore/supervisor';

const MiB = 1024 * 1024;

describe('RegionGrowth (how fast regions grow, from heartbeat sizes)', () => {
  it('gives bytes per second over reports at least 10 s apart, starts over when a region shrinks, and forgets regions', () => {
    const growth = new RegionGrowth();
    growth.record(1n, 100 * MiB, 0);
    growth.record(2n, 100 * MiB, 0);
    growth.record(1n, 150 * MiB, 5_000); // too close to the first to say anything
    expect(growth.rates([1n, 2n])).toEqual(new Map());
    growth.record(1n, 200 * MiB, 10_000);
    growth.record(2n, 90 * MiB, 10_000); // compaction: a little smaller
    expect(growth.rates([1n, 2n])).toEqual(
      new Map([
        [1n, 10 * MiB],
        [2n, 0],
      ]),
    );
    // The next window starts where the last ended.
    growth.record(1n, 210 * MiB, 20_000);
    expect(growth.rates([1n]).get(1n)).toBe(MiB);
    // 1 split (half of it left): not known again until a window from its new size has passed.
    growth.record(1n, 105 * MiB, 21_000);
    expect(growth.rates([1n])).toEqual(new Map());
    growth.record(1n, 205 * MiB, 31_000);
    expect(growth.rates([1n]).get(1n)).toBe(10 * MiB);
    growth.retain(new Set([2n]));
    expect(growth.rates([1n, 2n])).toEqual(new Map([[2n, 0]]));
  });
});

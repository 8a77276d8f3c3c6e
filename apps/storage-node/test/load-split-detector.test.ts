import { RegionId, compareKeys } from '@regionstore/core';
import { LoadSplitDetector } from '../src/load-split-detector';

const region = new RegionId(1, 1);
const key = (i: number) => Buffer.from(`user${String(i).padStart(8, '0')}`);
/** A deterministic stand-in for Math.random (a linear congruential generator). */
function seeded(seed = 42): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

/** `seconds` seconds of `perSecond(second)` requests each, closed one by one; the last verdicts. */
function drive(
  detector: LoadSplitDetector,
  seconds: number,
  requests: (second: number) => Array<{ key: Buffer; bytes: number }>,
  startMs = 0,
) {
  let verdict;
  for (let s = 0; s < seconds; s++) {
    for (const r of requests(s)) detector.record(region, r.key, r.bytes);
    verdict = detector.close(startMs + (s + 1) * 1000).get(region.value);
  }
  return verdict;
}

const options = { qpsThreshold: 1000, byteThreshold: 1024 * 1024, detectTimes: 3 };

describe('LoadSplitDetector', () => {
  it('proposes a key that halves uniform load, only after detectTimes hot seconds in a row', () => {
    const random = seeded();
    const detector = new LoadSplitDetector(options, 0, random);
    const uniform = () =>
      Array.from({ length: 2000 }, () => ({ key: key(Math.floor(random() * 100_000)), bytes: 100 }));
    const first = drive(detector, 2, uniform);
    expect(first).toHaveProperty('splitKey');
    expect(detector.proposal(region, 1)).toBeUndefined(); // 2 of 3 seconds
    drive(detector, 1, uniform, 2000);
    const proposed = detector.proposal(region, 1)!;
    expect(proposed).toBeDefined();
    // Near the middle of 0..100000
    const at = Number(proposed.toString().slice(4));
    expect(at).toBeGreaterThan(30_000);
    expect(at).toBeLessThan(70_000);

    // A cold second ends the streak and the proposal
    drive(detector, 1, () => [{ key: key(1), bytes: 10 }], 3000);
    expect(detector.proposal(region, 1)).toBeUndefined();
    drive(detector, 2, uniform, 4000);
    expect(detector.proposal(region, 1)).toBeUndefined();
  });

  it('counts bytes as well as requests', () => {
    const random = seeded(7);
    const detector = new LoadSplitDetector(options, 0, random);
    // 100 requests a second (under 1000) of 16 KiB each (1.6 MiB a second, over 1 MiB)
    const big = () =>
      Array.from({ length: 100 }, () => ({ key: key(Math.floor(random() * 1000)), bytes: 16 * 1024 }));
    expect(drive(detector, 3, big)).toHaveProperty('splitKey');
    expect(detector.proposal(region, 1)).toBeDefined();
    const cold = new LoadSplitDetector(options, 0, random);
    const small = () =>
      Array.from({ length: 100 }, () => ({ key: key(Math.floor(random() * 1000)), bytes: 100 }));
    expect(drive(cold, 3, small)).toBeUndefined();
    expect(cold.proposal(region, 1)).toBeUndefined();
  });

  it('proposes nothing when the load sits on one key (no split balances it)', () => {
    const detector = new LoadSplitDetector(options, 0, seeded());
    const verdict = drive(detector, 5, () =>
      Array.from({ length: 2000 }, () => ({ key: key(7), bytes: 100 })),
    );
    expect(verdict).toEqual({ skipped: 'unbalanced' });
    expect(detector.proposal(region, 1)).toBeUndefined();
  });

  it('proposes nothing for ordered inserts: the load walks along the keys (tikv#9785)', () => {
    const detector = new LoadSplitDetector(options, 0, seeded());
    let next = 0;
    const ordered = () => Array.from({ length: 2000 }, () => ({ key: key(next++), bytes: 100 }));
    expect(drive(detector, 5, ordered)).toEqual({ skipped: 'sequential' });
    expect(detector.proposal(region, 1)).toBeUndefined();
  });

  it('splits a hot range that is mostly one side heavy at the key that balances it', () => {
    const random = seeded(3);
    const detector = new LoadSplitDetector({ ...options, detectTimes: 1 }, 0, random);
    // 80% of requests on keys 0..999, 20% on 1000..99999
    const skewed = () =>
      Array.from({ length: 2000 }, () => ({
        key: key(random() < 0.8 ? Math.floor(random() * 1000) : 1000 + Math.floor(random() * 99_000)),
        bytes: 100,
      }));
    drive(detector, 1, skewed);
    const proposed = detector.proposal(region, 1)!;
    // The balancing key lies inside the hot 0..999 block, not in the middle of the key space
    expect(compareKeys(proposed, key(1000))).toBeLessThan(0);
    expect(compareKeys(proposed, key(300))).toBeGreaterThan(0);
  });

  it('starts the streak over when the region splits or merges (its epoch version changes)', () => {
    const random = seeded(11);
    const detector = new LoadSplitDetector(options, 0, random);
    const uniform = () =>
      Array.from({ length: 2000 }, () => ({ key: key(Math.floor(random() * 100_000)), bytes: 100 }));
    drive(detector, 3, uniform);
    expect(detector.proposal(region, 1)).toBeDefined();
    // Split: the same region id at version 2 has counted nothing on its new range yet
    expect(detector.proposal(region, 2)).toBeUndefined();
    drive(detector, 2, uniform, 3000);
    expect(detector.proposal(region, 2)).toBeUndefined();
    drive(detector, 1, uniform, 5000);
    expect(detector.proposal(region, 2)).toBeDefined();
  });

  it('starts a region over on reset', () => {
    const random = seeded();
    const detector = new LoadSplitDetector({ ...options, detectTimes: 1 }, 0, random);
    drive(detector, 1, () =>
      Array.from({ length: 2000 }, () => ({ key: key(Math.floor(random() * 1000)), bytes: 1 })),
    );
    expect(detector.proposal(region, 1)).toBeDefined();
    detector.reset(region);
    expect(detector.proposal(region, 1)).toBeUndefined();
  });
});

import {
  InvalidArgumentError,
  MAX_LOGICAL,
  ManualTimeProvider,
  RealTimeProvider,
  TimeoutError,
  TimestampAllocator,
  composeTimestamp,
  logicalOf,
  parseTimestamp,
  physicalOf,
  withTimeout,
} from '@regionstore/core';
import fc from 'fast-check';

describe('ManualTimeProvider', () => {
  it('wakes sleepers in deadline order only when advanced', async () => {
    const time = new ManualTimeProvider(1000);
    const woke: string[] = [];
    void time.sleep(300).then(() => woke.push(`b@${time.now()}`));
    void time.sleep(100).then(() => woke.push(`a@${time.now()}`));
    await time.advance(50);
    expect(woke).toEqual([]);
    expect(time.now()).toBe(1050);
    await time.advance(1000);
    expect(woke).toEqual(['a@1100', 'b@1300']);
    expect(time.now()).toBe(2050);
  });

  it('lets woken loops sleep again within one advance', async () => {
    const time = new ManualTimeProvider();
    const ticks: number[] = [];
    const controller = new AbortController();
    const loop = (async () => {
      for (;;) {
        await time.sleep(100, controller.signal);
        ticks.push(time.now());
      }
    })().catch(() => undefined);
    await time.advance(350);
    expect(ticks).toEqual([100, 200, 300]);
    controller.abort();
    await loop;
    expect(time.pendingSleeps).toBe(0);
  });

  it('real sleeps can be aborted', async () => {
    const controller = new AbortController();
    const sleeping = new RealTimeProvider().sleep(10_000, controller.signal);
    controller.abort(new Error('stop'));
    await expect(sleeping).rejects.toThrow('stop');
  });

  it('withTimeout rejects with TimeoutError', async () => {
    await expect(withTimeout(new Promise(() => undefined), 20, 'flush')).rejects.toThrow(TimeoutError);
    await expect(withTimeout(Promise.resolve(5), 20, 'flush')).resolves.toBe(5);
  });
});

describe('Timestamp', () => {
  it('packs physical ms above 18 logical bits', () => {
    const ts = composeTimestamp(1_700_000_000_000, 5);
    expect(ts).toBe((1_700_000_000_000n << 18n) | 5n);
    expect(physicalOf(ts)).toBe(1_700_000_000_000);
    expect(logicalOf(ts)).toBe(5);
    expect(() => composeTimestamp(1, MAX_LOGICAL + 1)).toThrow(InvalidArgumentError);
    expect(() => composeTimestamp(-1)).toThrow(InvalidArgumentError);
    expect(parseTimestamp('18446744073709551615')).toBe((1n << 64n) - 1n);
    expect(() => parseTimestamp('18446744073709551616')).toThrow(InvalidArgumentError);
    expect(() => parseTimestamp('12a')).toThrow(InvalidArgumentError);
  });

  it('allocates strictly increasing timestamps even when the clock stands still or goes back', () => {
    const time = new ManualTimeProvider(5000);
    const alloc = new TimestampAllocator(time);
    const a = alloc.next();
    const b = alloc.next();
    expect(b).toBe(a + 1n);
    time.setNow(4000);
    expect(alloc.next()).toBe(b + 1n);
  });

  it('carries logical overflow into the physical part', () => {
    const time = new ManualTimeProvider(10);
    const alloc = new TimestampAllocator(time);
    alloc.updateMaxTs(composeTimestamp(10, MAX_LOGICAL));
    const next = alloc.next();
    expect(physicalOf(next)).toBe(11);
    expect(logicalOf(next)).toBe(0);
  });

  it('stays monotonic and above every updateMaxTs under any interleaving', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('next' as const) }),
            fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: -50, max: 50 }) }),
            fc.record({ op: fc.constant('raise' as const), ts: fc.bigInt({ min: 0n, max: 1n << 40n }) }),
          ),
          { maxLength: 200 },
        ),
        (ops) => {
          const time = new ManualTimeProvider(1000);
          const alloc = new TimestampAllocator(time);
          let lastIssued = -1n;
          let floor = 0n;
          for (const step of ops) {
            if (step.op === 'advance') {
              time.setNow(Math.max(0, time.now() + step.ms));
            } else if (step.op === 'raise') {
              alloc.updateMaxTs(step.ts);
              if (step.ts > floor) floor = step.ts;
            } else {
              const ts = alloc.next();
              if (ts <= lastIssued || ts <= floor) return false;
              lastIssued = ts;
              floor = ts;
            }
          }
          return true;
        },
      ),
    );
  });
});

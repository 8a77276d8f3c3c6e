import { ManualTimeProvider, TimestampAllocator, composeTimestamp, keyRange } from '@regionstore/core';
import { ConcurrencyManager } from '@regionstore/engine';

const b = (text: string) => Buffer.from(text);

describe('ConcurrencyManager', () => {
  it('registers intents with the commit ts and finds the first one in a range at or below a read ts', () => {
    const cm = new ConcurrencyManager(new TimestampAllocator(new ManualTimeProvider(1000)));
    const one = cm.beginWrite([b('m'), b('c')]);
    const two = cm.beginWrite([b('c')]);
    expect(two.ts).toBeGreaterThan(one.ts);
    expect(cm.intentCount).toBe(3);
    expect(cm.findIntentInRange(keyRange(b('a'), b('z')), one.ts)).toEqual({ key: b('c'), ts: one.ts });
    expect(cm.findIntentInRange(keyRange(b('d'), b('')), two.ts)?.key.toString()).toBe('m');
    expect(cm.findIntentInRange(keyRange(b('d'), b('m')), two.ts)).toBeUndefined();
    expect(cm.findIntentInRange(keyRange(b('a'), b('z')), one.ts - 1n)).toBeUndefined();
    one.release();
    one.release();
    expect(cm.intentCount).toBe(1);
    expect(cm.findIntentInRange(keyRange(b('a'), b('z')), two.ts)).toEqual({ key: b('c'), ts: two.ts });
    two.release();
    expect(cm.intentCount).toBe(0);
  });

  it('makes later writes commit above a raised maxTs', () => {
    const cm = new ConcurrencyManager(new TimestampAllocator(new ManualTimeProvider(1000)));
    const readTs = composeTimestamp(5000);
    cm.updateMaxTs(readTs);
    const guard = cm.beginWrite([b('k')]);
    expect(guard.ts).toBeGreaterThan(readTs);
    guard.release();
  });
});

import { WRITE_ID_TTL_MS, WRITE_RETRY_CLOCK_SLACK_MS, composeTimestamp } from '@regionstore/core';
import { RecentWrites, recentWritesAfter } from '@regionstore/worker-group';

const T0 = 1_800_000_000_000;
const at = (ms: number) => composeTimestamp(T0 + ms);
const write = (writeId: string, ms: number, entryId: number) => ({ writeId, commitTs: at(ms), entryId });
/** The earliest call start a copy that knows every write above `ms` can vouch for. */
const vouchedFrom = (ms: number) => T0 + ms + WRITE_RETRY_CLOCK_SLACK_MS + 1;

describe('RecentWrites', () => {
  it('answers ids it recorded and forgets them once older than the ttl, knowing less from then on', () => {
    const writes = new RecentWrites(at(0), 0, 'inc-1');
    writes.record([write('a', 10, 1), write('b', 20, 2)], 2, T0 + 20);
    expect(writes.find('a')).toEqual({ commitTs: at(10), entryId: 1 });
    expect(writes.lastEntryId).toBe(2);
    expect(writes.knowsWritesSince(vouchedFrom(0) - 1)).toBe(false);
    expect(writes.knowsWritesSince(vouchedFrom(0))).toBe(true);

    // An idle region forgets too.
    writes.expire(T0 + 10 + WRITE_ID_TTL_MS + 1);
    expect(writes.find('a')).toBeUndefined();
    expect(writes.find('b')).toBeDefined();
    // It forgot `a` (at 10 ms), so it cannot vouch for calls begun before then.
    expect(writes.knowsWritesSince(vouchedFrom(10) - 1)).toBe(false);
    expect(writes.knowsWritesSince(vouchedFrom(10))).toBe(true);
  });

  it('answers a part of a write it knows, not a sibling part', () => {
    const writes = new RecentWrites(at(0), 0, undefined);
    writes.record([write('call/0', 10, 1)], 1, T0 + 10);
    expect(writes.find('call/0/1/0')).toEqual({ commitTs: at(10), entryId: 1 });
    expect(writes.find('call/1')).toBeUndefined();
    expect(writes.find('call')).toBeUndefined();
  });

  it('goes on in a split child’s WAL numbering, and a merge knows no more than both sides', () => {
    const parent = new RecentWrites(at(0), 5, 'parent');
    parent.record([write('p', 10, 6)], 6, T0 + 10);
    const child = parent.continuedAt(0, 'child');
    expect(child.find('p')).toEqual({ commitTs: at(10), entryId: 6 });
    expect(child.lastEntryId).toBe(0);
    expect(child.walIncarnation).toBe('child');

    const target = new RecentWrites(at(0), 0, 'target');
    target.absorb(new RecentWrites(at(500), 0, 'source'));
    expect(target.knowsWritesSince(vouchedFrom(500) - 1)).toBe(false);
    target.absorb(child);
    expect(target.find('p')).toBeDefined();
  });

  it('after a recovery, goes on only from the entry the replay started after, in the same WAL', () => {
    const current = new RecentWrites(at(0), 7, 'inc-1');
    current.record([write('old', 5, 7)], 7, T0 + 5);
    const recovered = {
      replayedFrom: 7,
      replayedWrites: [write('new', 9, 8)],
      loadedMaxTs: at(8),
      lastEntryId: 8,
      walIncarnation: 'inc-1',
    };
    const continued = recentWritesAfter(current, recovered, T0 + 9);
    expect(continued.find('old')).toBeDefined();
    expect(continued.find('new')).toBeDefined();
    expect(continued.knowsWritesSince(vouchedFrom(0))).toBe(true);

    // A rebuilt WAL numbers entries anew: the same entry id is not the same history.
    const rebuilt = recentWritesAfter(
      new RecentWrites(at(0), 7, 'inc-1'),
      { ...recovered, walIncarnation: 'inc-2' },
      T0 + 9,
    );
    expect(rebuilt.knowsWritesSince(vouchedFrom(8) - 1)).toBe(false);

    const reloaded = recentWritesAfter(
      current,
      {
        ...recovered,
        replayedFrom: 20,
        replayedWrites: [write('tail', 30, 21)],
        loadedMaxTs: at(25),
        lastEntryId: 21,
      },
      T0 + 30,
    );
    expect(reloaded.find('old')).toBeUndefined();
    expect(reloaded.find('tail')).toBeDefined();
    expect(reloaded.knowsWritesSince(vouchedFrom(25) - 1)).toBe(false);
    expect(reloaded.lastEntryId).toBe(21);
  });
});

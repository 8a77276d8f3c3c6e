import {
  WRITE_ID_TTL_MS,
  WRITE_RETRY_CLOCK_SLACK_MS,
  WRITE_RETRY_WINDOW_MS,
  composeTimestamp,
} from '@regionstore/core';
import { RecentWrites, recentWritesAfter } from '@regionstore/worker-group';

const T0 = 1_800_000_000_000;
const at = (ms: number) => composeTimestamp(T0 + ms);
const write = (writeId: string, ms: number, entryId: number) => ({ writeId, commitTs: at(ms), entryId });
/** The latest moment a copy complete above `ms` still cannot tell a re-sent write's fate. */
const undecidedUntil = (ms: number) => T0 + ms + WRITE_RETRY_WINDOW_MS + WRITE_RETRY_CLOCK_SLACK_MS;

describe('RecentWrites', () => {
  it('answers ids it recorded and forgets them once older than the ttl, knowing less from then on', () => {
    const writes = new RecentWrites(at(0), 0);
    writes.record([write('a', 10, 1), write('b', 20, 2)], 2, T0 + 20);
    expect(writes.find('a')).toEqual({ commitTs: at(10), entryId: 1 });
    expect(writes.lastEntryId).toBe(2);
    expect(writes.knowsRetriesAt(undecidedUntil(0))).toBe(false);
    expect(writes.knowsRetriesAt(undecidedUntil(0) + 1)).toBe(true);

    writes.record([], 2, T0 + 10 + WRITE_ID_TTL_MS + 1);
    expect(writes.find('a')).toBeUndefined();
    expect(writes.find('b')).toBeDefined();
    // It forgot `a` (at 10 ms), so it cannot tell about writes up to then before the window passed.
    expect(writes.knowsRetriesAt(undecidedUntil(10))).toBe(false);
    expect(writes.knowsRetriesAt(undecidedUntil(10) + 1)).toBe(true);
  });

  it('goes on in a split child’s WAL numbering, and a merge knows no more than both sides', () => {
    const parent = new RecentWrites(at(0), 5);
    parent.record([write('p', 10, 6)], 6, T0 + 10);
    const child = parent.continuedAt(0);
    expect(child.find('p')).toEqual({ commitTs: at(10), entryId: 6 });
    expect(child.lastEntryId).toBe(0);

    const target = new RecentWrites(at(0), 0);
    target.absorb(new RecentWrites(at(500), 0));
    expect(target.knowsRetriesAt(undecidedUntil(500))).toBe(false);
    target.absorb(child);
    expect(target.find('p')).toBeDefined();
  });

  it('after a recovery, goes on only from the entry the replay started after', () => {
    const current = new RecentWrites(at(0), 7);
    current.record([write('old', 5, 7)], 7, T0 + 5);
    const continued = recentWritesAfter(
      current,
      { replayedFrom: 7, replayedWrites: [write('new', 9, 8)], loadedMaxTs: at(8), lastEntryId: 8 },
      T0 + 9,
    );
    expect(continued.find('old')).toBeDefined();
    expect(continued.find('new')).toBeDefined();
    expect(continued.knowsRetriesAt(undecidedUntil(0) + 1)).toBe(true);

    const reloaded = recentWritesAfter(
      current,
      { replayedFrom: 20, replayedWrites: [write('tail', 30, 21)], loadedMaxTs: at(25), lastEntryId: 21 },
      T0 + 30,
    );
    expect(reloaded.find('old')).toBeUndefined();
    expect(reloaded.find('tail')).toBeDefined();
    expect(reloaded.knowsRetriesAt(undecidedUntil(25))).toBe(false);
    expect(reloaded.lastEntryId).toBe(21);
  });
});

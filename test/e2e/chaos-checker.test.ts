import { createRequire } from 'node:module';

interface Op {
  type: 'write' | 'read' | 'scan';
  key?: string;
  seq?: number;
  value?: string | null;
  invoke: number;
  complete: number;
  outcome: 'ok' | 'fail' | 'unknown';
  final?: boolean;
  error?: string;
}
type Verdict = Record<'lost' | 'stale' | 'phantom' | 'future' | 'inversion' | 'unreadable', unknown[]> & {
  counts: Record<string, number | Record<string, number>>;
};
const { check } = createRequire(__filename)('../../tools/chaos/checker.cjs') as {
  check: (history: Op[]) => Verdict;
};

const write = (seq: number, invoke: number, complete: number, outcome: Op['outcome'] = 'ok'): Op => ({
  type: 'write',
  key: 'k1',
  seq,
  value: `k1:${seq}`,
  invoke,
  complete,
  outcome,
});
const read = (value: string | null, invoke: number, complete: number, final = false): Op => ({
  type: 'read',
  key: 'k1',
  value,
  invoke,
  complete,
  outcome: 'ok',
  final,
});
const anomalies = (history: Op[]) => {
  const v = check(history);
  return {
    lost: v.lost.length,
    stale: v.stale.length,
    phantom: v.phantom.length,
    future: v.future.length,
    inversion: v.inversion.length,
    unreadable: v.unreadable.length,
  };
};
const NONE = { lost: 0, stale: 0, phantom: 0, future: 0, inversion: 0, unreadable: 0 };

describe('the chaos checker', () => {
  it('accepts a linearizable history, with reads concurrent with writes and an unknown write that landed', () => {
    expect(
      anomalies([
        write(1, 0, 10),
        read('k1:1', 11, 12),
        write(2, 20, 30),
        read('k1:1', 21, 22), // concurrent with write 2: either value is fine
        read('k1:2', 25, 26),
        write(3, 40, 50, 'unknown'),
        read('k1:3', 60, 61),
        read('k1:3', 70, 71, true),
      ]),
    ).toEqual(NONE);
  });

  it('reports a read older than a write acknowledged before it began as stale, or lost after the run', () => {
    expect(anomalies([write(1, 0, 10), write(2, 20, 30), read('k1:1', 31, 32)])).toEqual({
      ...NONE,
      stale: 1,
    });
    expect(anomalies([write(1, 0, 10), read(null, 11, 12)])).toEqual({ ...NONE, stale: 1 });
    expect(anomalies([write(1, 0, 10), write(2, 20, 30), read('k1:1', 100, 101, true)])).toEqual({
      ...NONE,
      lost: 1,
    });
  });

  it('reports values never written, or written under another key, as phantoms', () => {
    expect(
      anomalies([write(1, 0, 10), read('k1:7', 11, 12), read('garbage', 13, 14), read('k2:1', 15, 16)]),
    ).toEqual({
      ...NONE,
      phantom: 3,
    });
  });

  it('reports a read of a write that began after the read ended', () => {
    expect(anomalies([read('k1:1', 0, 5), write(1, 10, 20)])).toEqual({ ...NONE, future: 1 });
  });

  it('reports a new/old inversion between two reads in real-time order', () => {
    // write 2 is unknown, so neither read is stale on its own; together they go back in time
    expect(
      anomalies([write(1, 0, 10), write(2, 20, 30, 'unknown'), read('k1:2', 31, 32), read('k1:1', 40, 41)]),
    ).toEqual({ ...NONE, inversion: 1 });
  });

  it('reports a key whose final read failed as unreadable (nothing can be said of its writes)', () => {
    expect(anomalies([write(1, 0, 10), { ...read(null, 20, 21, true), outcome: 'fail' }])).toEqual({
      ...NONE,
      unreadable: 1,
    });
  });

  it('counts operations by outcome, and unknown writes by their error', () => {
    const v = check([
      write(1, 0, 10),
      { ...write(2, 20, 30, 'unknown'), error: 'Timeout' },
      { ...write(3, 40, 50, 'unknown'), error: 'Timeout' },
      { ...read(null, 1, 2), outcome: 'fail' },
    ]);
    expect(v.counts).toMatchObject({
      writes: 3,
      acknowledged: 1,
      unknownWrites: 2,
      reads: 0,
      failedReads: 1,
      unknownBy: { Timeout: 2 },
    });
  });

  it('takes a key a scan skipped as a read of nothing, and counts a failed scan apart from the keys', () => {
    const skipped = { ...read(null, 20, 30), scan: true };
    expect(anomalies([write(1, 0, 10), skipped])).toEqual({ ...NONE, stale: 1 });
    const v = check([
      write(1, 0, 10),
      { type: 'scan', invoke: 20, complete: 30, outcome: 'fail', error: 'Timeout' },
    ]);
    expect(v.counts).toMatchObject({ reads: 0, failedReads: 0, failedScans: 1, keys: 1 });
  });
});

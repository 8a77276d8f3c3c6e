import { RegionId, keyRange } from '@regionstore/core';
import { fullFlushDue, newManifest, type DeltaFile, type FlushManifest } from '@regionstore/region-files';

const REGION = RegionId.fromBigInt(7n);
const ALL = keyRange(Buffer.alloc(0), Buffer.alloc(0));
const EPOCH = { version: 1, confVer: 1 };
const OPTIONS = { maxDeltaFiles: 3, deltaCompactionRatio: 2 };

function delta(i: number, size: number): DeltaFile {
  return {
    name: `deltas/7/1-${i}-${i + 1}.rsst`,
    fromEntryId: i,
    toEntryId: i + 1,
    sha256: 'x',
    size,
    kvCount: 1,
  };
}

/** A manifest at WAL entry 10 with a 100-byte snapshot and `deltas`. */
function manifest(deltas: DeltaFile[] = [], extra: Partial<FlushManifest> = {}): FlushManifest {
  return {
    ...newManifest({ regionId: REGION, range: ALL, epoch: EPOCH }, 'n1', 0, {
      walEntryId: 10,
      snapshot: 'snapshots/7/1-10.rsst',
      sha256: 'x',
      size: 100,
      kvCount: 1,
      maxTs: undefined,
      deltas,
    }),
    ...extra,
  };
}

const next = { trimmedEntryId: 10, walEntryId: 20, range: ALL, epoch: EPOCH, incremental: false };

describe('fullFlushDue (when a flush compacts the region into a snapshot)', () => {
  it('writes a delta while the deltas stay within their bounds', () => {
    expect(fullFlushDue(manifest([delta(10, 50)]), next, OPTIONS)).toBe(false);
  });

  it('compacts with no snapshot to add a delta to', () => {
    expect(fullFlushDue(manifest([], { snapshot: null }), next, OPTIONS)).toBe(true);
  });

  it('compacts when the WAL no longer holds the entries since the manifest, or ends before it', () => {
    expect(fullFlushDue(manifest(), { ...next, trimmedEntryId: 11 }, OPTIONS)).toBe(true);
    expect(fullFlushDue(manifest(), { ...next, walEntryId: 9 }, OPTIONS)).toBe(true);
    // Nothing since the manifest: an empty delta still builds on it.
    expect(fullFlushDue(manifest(), { ...next, walEntryId: 10 }, OPTIONS)).toBe(false);
  });

  it('compacts after a merge (the files lack the range taken over), not after a split', () => {
    const half = keyRange(Buffer.from('a'), Buffer.from('m'));
    const grown = { version: 2, confVer: 1 };
    const fromHalf = manifest([], {
      range: { start: half.start.toString('base64'), end: half.end.toString('base64') },
    });
    expect(fullFlushDue(fromHalf, { ...next, epoch: grown }, OPTIONS)).toBe(true);
    // Even when asked for a delta: one would leave the range taken over out.
    expect(fullFlushDue(fromHalf, { ...next, epoch: grown, incremental: true }, OPTIONS)).toBe(true);
    expect(fullFlushDue(manifest(), { ...next, range: half, epoch: grown }, OPTIONS)).toBe(false);
    // A manifest from before ranges were recorded cannot show it covers the region.
    const rangeless = manifest();
    delete rangeless.range;
    expect(fullFlushDue(rangeless, { ...next, range: half, epoch: grown }, OPTIONS)).toBe(true);
  });

  it('compacts past maxDeltaFiles deltas or deltaCompactionRatio × the snapshot', () => {
    expect(fullFlushDue(manifest([delta(10, 1), delta(11, 1)]), next, OPTIONS)).toBe(false);
    expect(fullFlushDue(manifest([delta(10, 1), delta(11, 1), delta(12, 1)]), next, OPTIONS)).toBe(true);
    expect(fullFlushDue(manifest([delta(10, 199)]), next, OPTIONS)).toBe(false);
    expect(fullFlushDue(manifest([delta(10, 200)]), next, OPTIONS)).toBe(true);
    expect(fullFlushDue(manifest([delta(10, 100), delta(11, 100)]), next, OPTIONS)).toBe(true);
  });

  it("replaces a split child's copies of its parent's files, unless asked for a delta", () => {
    const inherited = manifest([], { inheritedFrom: '6' });
    expect(fullFlushDue(inherited, next, OPTIONS)).toBe(true);
    expect(fullFlushDue(inherited, { ...next, incremental: true }, OPTIONS)).toBe(false);
  });

  it('an incremental flush ignores the delta bounds but not a WAL that cannot give the delta', () => {
    const full = manifest([delta(10, 1), delta(11, 1), delta(12, 1)]);
    expect(fullFlushDue(full, { ...next, incremental: true }, OPTIONS)).toBe(false);
    expect(fullFlushDue(full, { ...next, incremental: true, trimmedEntryId: 11 }, OPTIONS)).toBe(true);
  });
});

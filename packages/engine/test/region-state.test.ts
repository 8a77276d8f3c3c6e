import { CorruptFileError, RegionId, keyRange } from '@regionstore/core';
import {
  CF_RAFT,
  WriteBatch,
  applyStateKey,
  clearSnapshotRaftState,
  decodeRegionLocalState,
  readApplyState,
  readRegionLocalState,
  regionStateKey,
  snapshotRaftStateKey,
  writeApplyState,
  writeRegionLocalState,
  writeSnapshotRaftState,
} from '@regionstore/engine';
import { useEngines } from './helpers';

const engines = useEngines('region-state');

describe('region state in the raft CF', () => {
  it('round-trips local and apply state, and clears snapshot raft state in the same batch', async () => {
    const engine = await engines.open();
    const id = new RegionId(0xffff_ffff, 3);
    const local = {
      regionId: id,
      state: 'Applying' as const,
      range: keyRange(Buffer.from([0, 1]), ''),
      epoch: { version: 4, confVer: 2 },
    };
    const batch = new WriteBatch();
    writeRegionLocalState(batch, local);
    writeApplyState(batch, id, { appliedIndex: 42, truncatedIndex: 40, truncatedTerm: 1 });
    writeSnapshotRaftState(batch, id, { appliedIndex: 42, truncatedIndex: 40, truncatedTerm: 1 });
    await engine.write(batch);

    const read = await readRegionLocalState(engine, id);
    expect(read?.regionId.equals(id)).toBe(true);
    expect(read?.state).toBe('Applying');
    expect(read?.range.start).toEqual(Buffer.from([0, 1]));
    expect(read?.range.end.length).toBe(0);
    expect(read?.epoch).toEqual({ version: 4, confVer: 2 });
    expect(await readApplyState(engine, id)).toEqual({
      appliedIndex: 42,
      truncatedIndex: 40,
      truncatedTerm: 1,
    });
    // The region's highest commit ts keeps all 64 bits.
    const maxTs = (1n << 64n) - 3n;
    await engine.write(
      writeApplyState(new WriteBatch(), id, {
        appliedIndex: 43,
        truncatedIndex: 40,
        truncatedTerm: 1,
        maxTs,
      }),
    );
    expect((await readApplyState(engine, id))?.maxTs).toBe(maxTs);

    const finish = new WriteBatch();
    writeRegionLocalState(finish, { ...local, state: 'Normal' });
    clearSnapshotRaftState(finish, id);
    await engine.write(finish);
    expect((await readRegionLocalState(engine, id))?.state).toBe('Normal');
    expect(await engine.get(CF_RAFT, snapshotRaftStateKey(id))).toBeUndefined();
    expect(await readRegionLocalState(engine, new RegionId(1, 1))).toBeUndefined();
  });

  it('uses distinct keys per region and kind', () => {
    const a = new RegionId(1, 2);
    const keys = [
      regionStateKey(a),
      applyStateKey(a),
      snapshotRaftStateKey(a),
      regionStateKey(new RegionId(1, 3)),
    ];
    expect(new Set(keys.map((k) => k.toString('hex'))).size).toBe(4);
  });

  it('refuses corrupt state with CorruptFile', () => {
    expect(() => decodeRegionLocalState(Buffer.from([0xc1]))).toThrow(CorruptFileError);
    expect(() => decodeRegionLocalState(Buffer.from([0x80]))).toThrow(/malformed/);
  });
});

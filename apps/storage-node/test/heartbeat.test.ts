import { RegionId, keyRange } from '@regionstore/core';
import { CF_DEFAULT, RocksEngine, WriteBatch, writeVersion } from '@regionstore/engine';
import { useTempDir } from '@regionstore/testing';
import type { WorkerGroup } from '@regionstore/worker-group';
import { join } from 'node:path';
import { buildHeartbeat } from '../src/heartbeat';

const dir = useTempDir('node-heartbeat');

describe('buildHeartbeat', () => {
  it('reports each region’s bytes and its MVCC versions, estimated from them', async () => {
    const engine = await RocksEngine.open({ path: join(dir.path, 'db') });
    try {
      const regions = [
        { regionId: new RegionId(1, 1), range: keyRange('a', 'm'), versions: 6000 },
        { regionId: new RegionId(1, 2), range: keyRange('m', ''), versions: 2000 },
      ];
      for (const { range, versions } of regions) {
        const batch = new WriteBatch();
        // Two versions of each key: versions, not keys, are what a region's count holds.
        for (let i = 0; i < versions / 2; i++) {
          const key = Buffer.concat([range.start, Buffer.from(String(i).padStart(6, '0'))]);
          for (const ts of [1n, 2n]) writeVersion(batch, { key, ts, value: Buffer.alloc(40, i % 251) });
        }
        await engine.write(batch);
      }
      await engine.flush(CF_DEFAULT);
      const group = {
        regions: () =>
          regions.map(({ regionId, range }) => ({
            regionId,
            range,
            role: 'Leader',
            epoch: { version: 1, confVer: 1 },
            writtenBytes: 0,
            lastEntryId: 0,
          })),
        openingRegionIds: () => [],
      } as unknown as WorkerGroup;
      const beat = await buildHeartbeat('n1', 'http://127.0.0.1:1', group, engine, Date.now());
      const [small, large] = [beat.regions[0]!, beat.regions[1]!].sort(
        (x, y) => x.approximateSizeBytes - y.approximateSizeBytes,
      );
      expect(large!.approximateSizeBytes).toBeGreaterThan(2 * small!.approximateSizeBytes);
      const estimated = Object.fromEntries(
        beat.regions.map((r) => [r.regionId.toString(), r.approximateKeys]),
      );
      expect(estimated['1:1']).toBeGreaterThan(6000 * 0.8);
      expect(estimated['1:1']).toBeLessThan(6000 * 1.2);
      expect(estimated['1:2']).toBeGreaterThan(2000 * 0.8);
      expect(estimated['1:2']).toBeLessThan(2000 * 1.2);
    } finally {
      await engine.close();
    }
  });
});

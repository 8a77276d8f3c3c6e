import { RegionId } from '@regionstore/core';
import { regionIdToIndex } from '@regionstore/worker-group';

describe('regionIdToIndex', () => {
  // The seed's test_region_id_to_index.
  it('maps (table, region) to a worker as GreptimeDB does', () => {
    expect(regionIdToIndex(new RegionId(1, 2), 4)).toBe(3);
    expect(regionIdToIndex(new RegionId(2, 3), 4)).toBe(1);
  });

  it('spreads the regions of many tables evenly over the workers', () => {
    const counts = [0, 0, 0, 0, 0, 0, 0, 0];
    for (let table = 1; table <= 100; table++) {
      for (let region = 0; region < 80; region++) counts[regionIdToIndex(new RegionId(table, region), 8)]!++;
    }
    for (const count of counts) expect(count).toBe(1000);
    expect(regionIdToIndex(new RegionId(7, 9), 1)).toBe(0);
  });
});

import { RegionId, keyRange } from '@regionstore/core';
import type { WorkerGroup } from '@regionstore/worker-group';
import { WorkerGroupRegionInfo } from '../src/region-info';

describe("backup's view of the node's regions", () => {
  it('lists the regions, and refuses a range whose region stopped leading or changed its range since', () => {
    const id = new RegionId(1, 1);
    const region = {
      regionId: id,
      range: keyRange('a', 'z'),
      epoch: { version: 1, confVer: 1 },
      role: 'Leader',
    };
    const group = { regions: () => [region], getRegion: () => region } as unknown as WorkerGroup;
    const info = new WorkerGroupRegionInfo(() => group);
    const [listed] = [...info.seekRegions(Buffer.from('b'))];
    expect(listed).toMatchObject({ regionId: id, epochVersion: 1, role: 'Leader' });
    expect(() => info.ensureLeader(listed!)).not.toThrow();
    // Split since (its version moved on): the half it gave away may be gone from here.
    region.epoch = { version: 2, confVer: 1 };
    expect(() => info.ensureLeader(listed!)).toThrow(/changed its range since the backup listed it/);
    region.epoch = { version: 1, confVer: 1 };
    region.role = 'Follower';
    expect(() => info.ensureLeader(listed!)).toThrow(expect.objectContaining({ code: 'NotLeader' }));
  });
});

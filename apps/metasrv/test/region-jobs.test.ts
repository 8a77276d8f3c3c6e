import { InternalError, NotLeaderError, RegionId, keyRange } from '@regionstore/core';
import type { RegionRoute } from '@regionstore/supervisor';
import { forEachRegion } from '../src/region-jobs';

const route = (id: number, leader: string): RegionRoute => ({
  regionId: new RegionId(1, id),
  range: keyRange(String(id), String(id + 1)),
  leader,
  epoch: { version: 1, confVer: 1 },
  state: 'Normal',
});

describe('forEachRegion', () => {
  it('sends each region its job, and follows a region to its new leader after NotLeader', async () => {
    const table = new Map([[2, route(2, 'node-3')]]);
    const store = { get: async (id: RegionId) => table.get(id.regionNumber) };
    const sent: string[] = [];
    let done = 0;
    const results = await forEachRegion(
      store,
      [route(1, 'node-1'), route(2, 'node-2')],
      async (r, attempt) => {
        sent.push(`${r.regionId.regionNumber}@${r.leader}#${attempt}`);
        if (r.leader === 'node-2') throw new NotLeaderError('moved');
        return r.leader;
      },
      () => {
        done++;
      },
      { retryDelayMs: 1 },
    );
    expect(results).toEqual(['node-1', 'node-3']);
    expect(sent.sort()).toEqual(['1@node-1#1', '2@node-2#1', '2@node-3#2']);
    expect(done).toBe(2);
  });

  it('fails at once on other errors, and after the attempts on region errors', async () => {
    const store = { get: async () => route(1, 'node-2') };
    let calls = 0;
    await expect(
      forEachRegion(
        store,
        [route(1, 'node-1')],
        async () => {
          calls++;
          throw new InternalError('disk on fire');
        },
        () => undefined,
      ),
    ).rejects.toThrow('disk on fire');
    expect(calls).toBe(1);
    calls = 0;
    await expect(
      forEachRegion(
        store,
        [route(1, 'node-1')],
        async () => {
          calls++;
          throw new NotLeaderError('still moving');
        },
        () => undefined,
        { attempts: 3, retryDelayMs: 1 },
      ),
    ).rejects.toMatchObject({ code: 'NotLeader' });
    expect(calls).toBe(3);
  });
});

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
    /** Runs one region whose job always throws `err`; returns how many times the job ran. */
    const attemptsUntilFailure = async (err: Error, expected: object | string) => {
      let calls = 0;
      const job = async () => {
        calls++;
        throw err;
      };
      const running = forEachRegion(store, [route(1, 'node-1')], job, () => undefined, {
        attempts: 3,
        retryDelayMs: 1,
      });
      await (typeof expected === 'string'
        ? expect(running).rejects.toThrow(expected)
        : expect(running).rejects.toMatchObject(expected));
      return calls;
    };
    expect(await attemptsUntilFailure(new InternalError('disk on fire'), 'disk on fire')).toBe(1);
    expect(await attemptsUntilFailure(new NotLeaderError('still moving'), { code: 'NotLeader' })).toBe(3);
  });
});

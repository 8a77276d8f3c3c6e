import { InternalError, LockedError, NotLeaderError, RegionId, keyRange } from '@regionstore/core';
import type { RegionRoute } from '@regionstore/supervisor';
import { forEachRange } from '../src/region-jobs';

const route = (id: number, leader: string): RegionRoute => ({
  regionId: new RegionId(1, id),
  range: keyRange(String(id), String(id + 1)),
  leader,
  epoch: { version: 1, confVer: 1 },
  state: 'Normal',
});

describe('forEachRange', () => {
  const at = (start: string, end: string, id: number, leader: string): RegionRoute => ({
    ...route(id, leader),
    range: keyRange(start, end),
  });

  it('covers every key once when a split hands part of a region to another leader meanwhile', async () => {
    // 1 is [a, m) on node-1 when the job is sent; by the time node-1 answers, it split at g and the
    // half [g, m) (region 3) moved to node-2
    let table = [at('a', 'm', 1, 'node-1'), at('m', 'z', 2, 'node-2')];
    const store = { routes: async () => table };
    const sent: string[] = [];
    const progress: string[] = [];
    const results = await forEachRange(
      store,
      keyRange('c', 'x'),
      async (r, part, attempt) => {
        sent.push(`${r.regionId.regionNumber}@${r.leader} ${part.start}-${part.end} #${attempt}`);
        if (r.regionId.regionNumber === 1) {
          table = [at('a', 'g', 1, 'node-1'), at('g', 'm', 3, 'node-2'), at('m', 'z', 2, 'node-2')];
          return { value: `1:c-g`, covered: [keyRange('c', 'g')] };
        }
        return { value: `${r.regionId.regionNumber}:${part.start}-${part.end}`, covered: [part] };
      },
      (done, total) => void progress.push(`${done}/${total}`),
      { retryDelayMs: 1 },
    );
    expect(results.sort()).toEqual(['1:c-g', '2:m-x', '3:g-m']);
    expect(sent.sort()).toEqual(['1@node-1 c-m #1', '2@node-2 m-x #1', '3@node-2 g-m #2']);
    expect(progress.at(-1)).toBe('3/3');
  });

  it('sends a part whose region moved to whoever holds its keys now, and gives up after the attempts', async () => {
    let table = [at('a', 'z', 1, 'node-1')];
    const store = { routes: async () => table };
    const progress: string[] = [];
    const results = await forEachRange(
      store,
      keyRange('a', 'z'),
      async (r, part) => {
        if (r.leader === 'node-1') {
          table = [at('a', 'z', 1, 'node-2')];
          throw new NotLeaderError('moved');
        }
        return { value: r.leader, covered: [part] };
      },
      (done, total) => void progress.push(`${done}/${total}`),
      { retryDelayMs: 1 },
    );
    expect(results).toEqual(['node-2']);
    expect(progress).toEqual(['1/1']); // the part that moved counts once
    const never = forEachRange(
      { routes: async () => [at('a', 'z', 1, 'node-1')] },
      keyRange('a', 'z'),
      async () => ({ value: 0, covered: [] }),
      () => undefined,
      { attempts: 3, retryDelayMs: 1 },
    );
    await expect(never).rejects.toMatchObject({ code: 'NotLeader' });
  });

  it('fails at once on other errors, and after the attempts on region errors and writes in flight', async () => {
    const store = { routes: async () => [route(1, 'node-2')] };
    /** Runs one part whose job always throws `err`; returns how many times the job ran. */
    const attemptsUntilFailure = async (err: Error, expected: object | string) => {
      let calls = 0;
      const job = async () => {
        calls++;
        throw err;
      };
      const running = forEachRange(store, keyRange('1', '2'), job, () => undefined, {
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
    expect(await attemptsUntilFailure(new LockedError('a write in flight'), { code: 'Locked' })).toBe(3);
  });
});

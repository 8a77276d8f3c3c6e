import { keyRange } from '@regionstore/core';
import { BackupTask, Progress, StaticRegionInfoProvider } from '@regionstore/backup';
import { b, leaderRegions, request, runTask, useEndpoints } from './helpers';

const fixtures = useEndpoints('backup-progress');

const REGIONS = leaderRegions([
  ['', '1', 1],
  ['1', '2', 2],
  ['3', '4', 3],
  ['7', '9', 4],
  ['9', '', 5],
]);

// The seed's test_seek_range table: backup range [case.0, case.1) gives the ranges of case.2.
const CASES: Array<[string, string, Array<[string, string]>]> = [
  ['', '1', [['', '1']]],
  [
    '',
    '2',
    [
      ['', '1'],
      ['1', '2'],
    ],
  ],
  ['1', '2', [['1', '2']]],
  ['1', '3', [['1', '2']]],
  [
    '1',
    '4',
    [
      ['1', '2'],
      ['3', '4'],
    ],
  ],
  ['4', '6', []],
  ['4', '5', []],
  ['2', '7', [['3', '4']]],
  ['7', '8', [['7', '8']]],
  [
    '3',
    '',
    [
      ['3', '4'],
      ['7', '9'],
      ['9', ''],
    ],
  ],
  [
    '5',
    '',
    [
      ['7', '9'],
      ['9', ''],
    ],
  ],
  [
    '7',
    '',
    [
      ['7', '9'],
      ['9', ''],
    ],
  ],
  [
    '8',
    '91',
    [
      ['8', '9'],
      ['9', '91'],
    ],
  ],
  [
    '8',
    '',
    [
      ['8', '9'],
      ['9', ''],
    ],
  ],
  [
    '',
    '',
    [
      ['', '1'],
      ['1', '2'],
      ['3', '4'],
      ['7', '9'],
      ['9', ''],
    ],
  ],
];

describe('Progress (seed test_seek_range)', () => {
  const provider = new StaticRegionInfoProvider();
  provider.setRegions(REGIONS);

  it.each(CASES)(
    'forward over [%j, %j) yields the expected ranges with random limits',
    async (start, end, expected) => {
      for (let round = 0; round < 5; round++) {
        const progress = new Progress(provider, keyRange(b(start), b(end)));
        const got: Array<[string, string]> = [];
        for (;;) {
          const limit = Math.floor(Math.random() * 3) + 1;
          const batch = await progress.forward(limit);
          expect(batch.length).toBeLessThanOrEqual(limit);
          if (batch.length === 0) break;
          got.push(
            ...batch.map((r) => [r.range.start.toString(), r.range.end.toString()] as [string, string]),
          );
        }
        expect(got).toEqual(expected);
        expect(progress.finished).toBe(true);
      }
    },
  );

  it('skips regions this node does not lead', async () => {
    const mixed = new StaticRegionInfoProvider();
    mixed.setRegions(REGIONS.map((r, i) => (i === 1 ? { ...r, role: 'Follower' as const } : r)));
    const progress = new Progress(mixed, keyRange(b(''), b('4')));
    const got = (await progress.forward(10)).map((r) => r.range.start.toString());
    expect(got).toEqual(['', '3']);
  });

  it.each(CASES)(
    'a whole task over [%j, %j) sends one response per expected range',
    async (start, end, expected) => {
      const { endpoint, regionInfo } = await fixtures.endpoint();
      regionInfo.setRegions(REGIONS);
      const task = BackupTask.create(
        request({
          startKey: b(start).toString('base64'),
          endKey: b(end).toString('base64'),
          storage: fixtures.storageUrl(),
        }),
      );
      const responses = await runTask(endpoint, task);
      const got = responses.map((r) => [r.startKey.toString(), r.endKey.toString()]).sort();
      expect(got).toEqual([...expected].sort());
      for (const response of responses) expect(response.error).toBeUndefined();
    },
  );
});

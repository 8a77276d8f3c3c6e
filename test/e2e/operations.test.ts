import { RegionStoreClient } from '@regionstore/client';
import { buildProgram } from '../../apps/cli/src/program';
import { useCluster } from './cluster';

const clusters = useCluster('e2e-operations');

async function cli(metasrv: string, ...args: string[]): Promise<string> {
  let output = '';
  await buildProgram({ out: (text) => (output += text) }).parseAsync([
    'node',
    'regionctl',
    '--metasrv',
    metasrv,
    '--json',
    ...args,
  ]);
  return output;
}

describe('operating a cluster', () => {
  it('backs the cluster up and restores it, through the CLI', async () => {
    const cluster = await clusters.start({ nodes: 2, initialRegions: 4 });
    const m = cluster.metasrvUrl;
    for (let i = 0; i < 50; i++) await cli(m, 'put', `k${String(i).padStart(2, '0')}`, `v${i}`);
    expect(JSON.parse(await cli(m, 'get', 'k07'))).toEqual({ key: 'k07', value: 'v7' });
    expect(JSON.parse(await cli(m, 'scan', '--start', 'k10', '--limit', '3'))).toEqual([
      { key: 'k10', value: 'v10' },
      { key: 'k11', value: 'v11' },
      { key: 'k12', value: 'v12' },
    ]);

    const target = `local://${cluster.dir}/backups/b1`;
    const record = JSON.parse(await cli(m, 'backup', 'create', target));
    expect(record).toMatchObject({ status: 'Done', kvs: 50 });

    for (let i = 0; i < 50; i += 2) await cli(m, 'delete', `k${String(i).padStart(2, '0')}`);
    await cli(m, 'put', 'k01', 'changed');
    expect(JSON.parse(await cli(m, 'get', 'k00')).value).toBeNull();

    expect(JSON.parse(await cli(m, 'restore', target))).toMatchObject({ kvs: 50 });
    const client = new RegionStoreClient({ metasrv: m });
    const all = await client.scan({ limit: 100 });
    expect(all).toHaveLength(50);
    expect(all.map((e) => e.value.toString())).toEqual(Array.from({ length: 50 }, (_, i) => `v${i}`));

    const status = JSON.parse(await cli(m, 'cluster', 'status'));
    expect(status.nodes).toHaveLength(2);
    expect(status.regions).toHaveLength(4);
    await cluster.stop();
  });

  it('moves nothing in maintenance mode, and fails over once it is turned off', async () => {
    const cluster = await clusters.start({ nodes: 2, initialRegions: 2 });
    const m = cluster.metasrvUrl;
    await cli(m, 'maintenance', 'on');
    const before = await cluster.routes();
    const victim = before[0]!.leader;
    await cluster.kill(victim, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 6000)); // well past detection (about 3 s)
    expect((await cluster.routes()).map((r) => r.leader)).toEqual(before.map((r) => r.leader));
    expect(JSON.parse(await cli(m, 'cluster', 'status')).maintenance).toBe(true);

    await cli(m, 'maintenance', 'off');
    await cluster.waitFor(
      async () => (await cluster.routes()).every((r) => r.leader !== victim),
      'failover',
      60_000,
    );
  });

  it('moves a region on request and keeps its data', async () => {
    const cluster = await clusters.start({ nodes: 2, initialRegions: 2 });
    const m = cluster.metasrvUrl;
    await cli(m, 'put', 'a-key', 'a-value');
    const [first] = await cluster.routes();
    const other = (await cluster.routes()).find((r) => r.leader !== first!.leader)!.leader;
    const { procedureId } = JSON.parse(await cli(m, 'region', 'migrate', first!.regionId, other));
    expect(procedureId).toBeTruthy();
    await cluster.waitFor(async () => (await cluster.routes())[0]!.leader === other, 'the migration', 60_000);
    expect(JSON.parse(await cli(m, 'get', 'a-key')).value).toBe('a-value');
    await cluster.stop();
  });
});

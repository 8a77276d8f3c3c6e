import { cpSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { RegionStoreClient } from '@regionstore/client';
import { keyRange, rangeContains } from '@regionstore/core';
import { buildProgram } from '../../apps/cli/src/program';
import { useCluster } from './cluster';

const clusters = useCluster('e2e-operations');

/** Runs `regionctl --json …`; resolves with stdout, what the progress bars drew, and the exit code. */
async function regionctl(metasrv: string, ...args: string[]) {
  let output = '';
  let progress = '';
  const bars = new PassThrough();
  bars.on('data', (chunk: Buffer) => (progress += chunk.toString()));
  const before = process.exitCode;
  await buildProgram({ out: (text) => (output += text), progress: bars }).parseAsync([
    'node',
    'regionctl',
    '--metasrv',
    metasrv,
    ...args,
  ]);
  const exitCode = process.exitCode ?? 0;
  process.exitCode = before;
  return { output, progress, exitCode };
}

async function cli(metasrv: string, ...args: string[]): Promise<string> {
  return (await regionctl(metasrv, '--json', ...args)).output;
}

const pad = (i: number) => `k${String(i).padStart(2, '0')}`;

describe('operating a cluster', () => {
  it('backs a cluster up, refuses a corrupted copy, and restores into a new cluster with the original versions', async () => {
    const source = await clusters.start({ nodes: 2, initialRegions: 4 });
    const m = source.metasrvUrl;
    for (let i = 0; i < 50; i++) await cli(m, 'put', pad(i), `v${i}`);
    for (let i = 0; i < 50; i += 5) await cli(m, 'delete', pad(i));
    const { commitTs } = JSON.parse(await cli(m, 'put', 'k01', 'changed')) as { commitTs: string };
    expect(JSON.parse(await cli(m, 'get', 'k07'))).toEqual({ key: 'k07', value: 'v7' });
    const missing = await regionctl(m, '--json', 'get', 'k05'); // deleted above
    expect([JSON.parse(missing.output), missing.exitCode]).toEqual([{ key: 'k05', value: null }, 1]);
    expect(JSON.parse(await cli(m, 'scan', 'k10', '--limit', '3'))).toEqual([
      { key: 'k11', value: 'v11' },
      { key: 'k12', value: 'v12' },
      { key: 'k13', value: 'v13' },
    ]);
    // As of a ts: k01 before it changed.
    const before = (BigInt(commitTs) - 1n).toString();
    expect(JSON.parse(await cli(m, 'scan', 'k01', 'k02', '--ts', before))).toEqual([
      { key: 'k01', value: 'v1' },
    ]);
    // Binary keys and values, in hex.
    await cli(m, '--hex', 'put', '00ff', 'c3');
    expect(JSON.parse(await cli(m, '--hex', 'get', '00ff'))).toEqual({ key: '00ff', value: 'c3' });
    expect(JSON.parse(await cli(m, '--base64', 'get', 'AP8='))).toEqual({ key: 'AP8=', value: 'ww==' });
    await cli(m, '--hex', 'delete', '00ff');
    const expected = JSON.parse(await cli(m, 'scan', '--limit', '1000')) as unknown[];
    expect(expected).toHaveLength(40);

    const backupDir = clusters.scratch('backup');
    const target = `local://${backupDir}`;
    const created = await regionctl(
      m,
      'backup',
      'create',
      '--storage',
      target,
      '--rate-limit',
      '10MiB',
      '--compression',
      'zstd',
    );
    expect(created.exitCode).toBe(0);
    expect(created.output).toMatch(/Done/);
    expect(created.progress).toMatch(/backup \[.*\] 4\/4 regions/);
    const [record] = JSON.parse(await cli(m, 'backup', 'list')) as Array<Record<string, unknown>>;
    expect(record).toMatchObject({ status: 'Done', kvs: 40, regionsTotal: 4, regionsDone: 4 });

    // wipe: the source cluster, its data and its keys are gone; only the backup directory is left
    await source.stop();
    const target2 = await clusters.start({ nodes: 3, initialRegions: 6 });
    const n = target2.metasrvUrl;

    // a copy of the backup with one flipped byte is refused before anything is written
    const badDir = clusters.scratch('backup-bad');
    cpSync(backupDir, badDir, { recursive: true });
    const victim = join(
      badDir,
      readdirSync(badDir).find((f) => f.endsWith('.rsst'))!,
    );
    const bytes = readFileSync(victim);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    writeFileSync(victim, bytes);
    const refused = await regionctl(n, '--json', 'restore', `local://${badDir}`);
    expect(refused.exitCode).toBe(1);
    expect(JSON.parse(refused.output)).toMatchObject({ status: 'Failed', phase: 'verify' });
    expect(JSON.parse(refused.output).error).toMatch(/checksum|does not match|corrupt/i);
    expect(JSON.parse(await cli(n, 'scan', '--limit', '1000'))).toEqual([]);

    const restored = await regionctl(n, 'restore', target);
    expect(restored.exitCode).toBe(0);
    expect(restored.progress).toMatch(/restore \[.*\] \d+\/\d+ files verified/);
    expect(restored.progress).toMatch(/regions written/);
    expect(JSON.parse(await cli(n, 'scan', '--limit', '1000'))).toEqual(expected);
    // the versions keep their commit timestamps: k01 is 'changed' at exactly its old commit ts, and
    // nothing before it (the backup holds the newest version only)
    const client = new RegionStoreClient({ metasrv: n });
    expect((await client.get(Buffer.from('k01'), { ts: BigInt(commitTs) }))?.toString()).toBe('changed');
    expect(await client.get(Buffer.from('k01'), { ts: BigInt(commitTs) - 1n })).toBeUndefined();
    // and the new cluster's writes commit above them
    await cli(n, 'put', 'k01', 'after');
    expect(JSON.parse(await cli(n, 'get', 'k01')).value).toBe('after');

    // Restored again over that newer write, the backup's k01 would stay hidden under it: refused
    // before anything is written, naming the key; forced, it restores and the newer write stays.
    const again = await regionctl(n, '--json', 'restore', target);
    expect(again.exitCode).toBe(1);
    expect(JSON.parse(again.output)).toMatchObject({
      status: 'Failed',
      phase: 'check',
      code: 'FailedPrecondition',
    });
    expect(JSON.parse(again.output).error).toMatch(/newer than the backup.*"k01"/);
    const forced = await regionctl(n, '--json', 'restore', target, '--force');
    expect(forced.exitCode).toBe(0);
    expect(JSON.parse(forced.output)).toMatchObject({ status: 'Done', phase: 'write', force: true });
    expect(JSON.parse(await cli(n, 'get', 'k01')).value).toBe('after');
    await target2.stop();
  });

  it('runs a load test through regionctl bench and cleans up after it', async () => {
    const cluster = await clusters.start({ nodes: 2, initialRegions: 2 });
    const m = cluster.metasrvUrl;
    const run = await regionctl(m, 'bench', '--keys', '400', '--batch', '8', '--concurrency', '4');
    expect(run.exitCode).toBe(0);
    for (const phase of ['write', 'get', 'batch-get', 'scan', 'cleanup']) expect(run.output).toContain(phase);
    expect(run.progress).toMatch(/write \[.*\] 400\/400 keys write/);
    const rows = JSON.parse(
      await cli(m, 'bench', '--keys', '64', '--batch', '8', '--concurrency', '2'),
    ) as Array<{
      phase: string;
      keys: number;
      keysPerSec: number;
    }>;
    expect(rows.map((r) => r.phase)).toEqual(['write', 'get', 'batch-get', 'scan', 'cleanup']);
    expect(rows.every((r) => r.keys === 64 && r.keysPerSec > 0)).toBe(true);
    const client = new RegionStoreClient({ metasrv: m });
    const benchKeys = async () =>
      (await client.scan({ limit: 10_000 })).filter((e) => e.key.includes('__bench/'));
    expect(await benchKeys()).toEqual([]); // cleaned up
    // Timed: as many keys as two seconds allow, each later phase over those, then all of them deleted.
    const timed = JSON.parse(
      await cli(m, 'bench', '--duration', '2s', '--batch', '8', '--concurrency', '4'),
    ) as Array<{ phase: string; keys: number; seconds: number }>;
    const written = timed.find((r) => r.phase === 'write')!;
    expect(written.keys).toBeGreaterThan(0);
    expect(written.seconds).toBeLessThan(10);
    for (const row of timed.filter((r) => ['scan', 'cleanup'].includes(r.phase)))
      expect([row.phase, row.keys]).toEqual([row.phase, written.keys]);
    expect(await benchKeys()).toEqual([]);
    // the keys go to every region (so to every node), not to the one region a common prefix falls in
    await cli(m, 'bench', '--keys', '64', '--batch', '8', '--concurrency', '2', '--keep');
    const kept = await benchKeys();
    expect(kept).toHaveLength(64);
    const routes = await client.routes(true);
    for (const route of routes) {
      const inRegion = kept.filter((e) => rangeContains(keyRange(route.start, route.end), e.key));
      expect([route.regionId.toString(), inRegion.length]).toEqual([route.regionId.toString(), 32]);
    }
    await expect(regionctl(m, 'bench', '--keys', '0')).rejects.toThrow(/positive integer/);
    await cluster.stop();
  });

  it('runs YCSB workloads through regionctl bench --workload and cleans up after them', async () => {
    const cluster = await clusters.start({ nodes: 2, initialRegions: 2 });
    const m = cluster.metasrvUrl;
    const results = JSON.parse(
      await cli(
        m,
        'bench',
        '--workload',
        'a,e,f',
        '--records',
        '300',
        '--operations',
        '200',
        '--concurrency',
        '4',
      ),
    ) as Array<{
      workload: string;
      operations: number;
      opsPerSec: number;
      inserted: number;
      latency: object;
    }>;
    expect(results.map((r) => r.workload)).toEqual(['a', 'e', 'f']);
    expect(results.every((r) => r.operations === 200 && r.opsPerSec > 0)).toBe(true);
    expect(Object.keys(results[0]!.latency).sort()).toEqual(['read', 'update']);
    expect(Object.keys(results[1]!.latency).sort()).toEqual(['insert', 'scan']);
    expect(Object.keys(results[2]!.latency).sort()).toEqual(['read', 'rmw']);
    expect(results[1]!.inserted).toBeGreaterThan(0);
    const client = new RegionStoreClient({ metasrv: m });
    expect((await client.scan({ limit: 10_000 })).filter((e) => e.key.includes('__bench/'))).toEqual([]);
    await expect(regionctl(m, 'bench', '--workload', 'd')).rejects.toThrow(/unknown workload 'd'/);
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

  it('moves a region under write load on request; the old leader, frozen through the move, is fenced out', async () => {
    const cluster = await clusters.start({ nodes: 2, initialRegions: 2 });
    const m = cluster.metasrvUrl;
    const [moving] = await cluster.routes(); // [0x00.., 0x80..): keys starting with 0x10 live there
    const from = moving!.leader;
    const to = (await cluster.routes()).find((r) => r.leader !== from)!.leader;
    const key = (i: number) => Buffer.from([0x10, ...Buffer.from(`move-${String(i).padStart(5, '0')}`)]);
    const client = new RegionStoreClient({ metasrv: m, retryTimeoutMs: 60_000 });

    const acked = new Map<number, string>();
    let next = 0;
    let stop = false;
    const writers = Array.from({ length: 4 }, async () => {
      while (!stop) {
        const i = next++;
        await client.put(key(i), Buffer.from(`v${i}`));
        acked.set(i, `v${i}`);
      }
    });
    await cluster.waitFor(async () => acked.size >= 200, '200 writes before the move', 30_000);

    // Freeze the leader: it misses the downgrade, keeps believing it leads, and holds writes in flight.
    const frozen = cluster.processes.get(from)!;
    frozen.kill('SIGSTOP');
    const { procedureId } = JSON.parse(await cli(m, 'region', 'migrate', moving!.regionId, to));
    expect(procedureId).toBeTruthy();
    await cluster.waitFor(
      async () => (await cluster.routes())[0]!.leader === to,
      'the migration past a frozen leader',
      60_000,
    );
    const ackedBeforeThaw = acked.size;
    frozen.kill('SIGCONT');

    // The old leader's writes are refused: the ones it held through the freeze (the client retries them
    // on the new leader) and one sent to it directly now.
    const direct = await fetch(`${moving!.address}/v1/write`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        regionId: moving!.regionId,
        mutations: [
          { op: 'put', key: key(99_999).toString('base64'), value: Buffer.from('stale').toString('base64') },
        ],
      }),
    });
    expect(direct.ok).toBe(false);
    expect(['NotLeader', 'RegionNotFound']).toContain(((await direct.json()) as { code: string }).code);

    await cluster.waitFor(
      async () => acked.size >= ackedBeforeThaw + 200,
      '200 writes after the move',
      60_000,
    );
    stop = true;
    await Promise.all(writers);
    const values = await client.batchGet([...acked.keys()].map(key));
    expect(values.map((v) => v?.toString())).toEqual([...acked.values()]);
    expect(await client.get(key(99_999))).toBeUndefined();
    expect(JSON.parse(await cli(m, 'cluster', 'status')).regions[0].leader).toBe(to);
    await cluster.stop();
  });
});

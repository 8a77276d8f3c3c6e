import { spawn, spawnSync } from 'node:child_process';
import { Queue, QueueEvents } from 'bullmq';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { RegionStoreClient } from '@regionstore/client';
import { RegionId } from '@regionstore/core';
import { QueueNames, encodeJobPayload } from '@regionstore/protocol';
import { mintClusterRecord } from '@regionstore/runtime';
import { useRedisNamespace } from '@regionstore/testing';
import { spread, useCluster, waitFor, type Cluster } from './cluster';

const { dropKeys } = createRequire(__filename)('../../tools/cluster.cjs') as {
  dropKeys: (redis: unknown, prefix: string) => Promise<void>;
};
const repo = resolve(__dirname, '../..');
const NODE_MAIN = join(repo, 'apps/storage-node/dist/main.js');
const CLI_MAIN = join(repo, 'apps/cli/dist/main.js');

const clusters = useCluster('e2e-identity');
const ns = useRedisNamespace('e2e-identity-extra');

/** Runs node-1 of `cluster` by hand against `prefix`; resolves with its exit code and output. */
function runNode(cluster: Cluster, prefix: string): Promise<{ code: number | null; output: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [NODE_MAIN], {
      env: {
        ...process.env,
        REGIONSTORE_REDIS_URL: ns.url,
        REGIONSTORE_KEY_PREFIX: prefix,
        REGIONSTORE_NODE_ID: 'node-1',
        REGIONSTORE_DATA_DIR: join(cluster.dir, 'node-1'),
        REGIONSTORE_SNAPSHOT_STORAGE: `local://${join(cluster.dir, 'objects')}`,
        REGIONSTORE_WAL__DURABILITY: 'unsafe',
        REGIONSTORE_HTTP__PORT: '0',
        REGIONSTORE_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      done({ code, output });
    });
  });
}

/** Flushes a region through its node's task queue, as the metasrv would. */
async function flush(cluster: Cluster, nodeId: string, regionId: string): Promise<void> {
  const names = new QueueNames(cluster.prefix);
  const connection = { url: ns.url, maxRetriesPerRequest: null };
  const queue = new Queue(names.node(nodeId), { connection, prefix: names.bullmqPrefix });
  const events = new QueueEvents(names.node(nodeId), { connection, prefix: names.bullmqPrefix });
  try {
    await events.waitUntilReady();
    const payload = encodeJobPayload('flush-region', { regionId: RegionId.parse(regionId) });
    const job = await queue.add('flush-region', payload);
    await job.waitUntilFinished(events, 30_000);
  } finally {
    await events.close();
    await queue.close();
  }
}

/** The routes Redis keeps (readable while the cluster is stopped), from the metasrv's status shape. */
async function routesOf(cluster: Cluster): Promise<Array<{ regionId: string; start: string; end: string }>> {
  const redis = await ns.connect();
  const raw = await redis.hgetall(`{${cluster.prefix}}:meta:routes`);
  return Object.entries(raw)
    .map(([regionId, json]) => ({ regionId, ...(JSON.parse(json) as { start: string; end: string }) }))
    .sort((a, b) => Buffer.compare(Buffer.from(a.start, 'base64'), Buffer.from(b.start, 'base64')));
}

async function adminGet(cluster: Cluster, path: string): Promise<Record<string, unknown>> {
  return (await (await fetch(`${cluster.metasrvUrl}${path}`)).json()) as Record<string, unknown>;
}

describe('cluster identity', () => {
  it('a node refuses an empty or a foreign Redis, a metasrv refuses to bootstrap over the object store, and nothing is lost', async () => {
    const cluster = await clusters.start({ nodes: 1, initialRegions: 2 });
    const client = new RegionStoreClient({ metasrv: cluster.metasrvUrl, retryTimeoutMs: 60_000 });
    const keys = spread('kept', 16);
    for (const key of keys) await client.put(key, key);
    const { clusterId } = (await adminGet(cluster, '/admin/cluster')) as { clusterId: string };
    expect(clusterId).toMatch(/^[0-9a-f-]{36}$/);
    await cluster.stop();

    // An empty Redis (here: a key prefix nothing was ever written under).
    const empty = await runNode(cluster, `${ns.prefix}-empty`);
    expect(empty.code).toBe(78);
    expect(empty.output).toContain(`belongs to cluster ${clusterId} (2 regions)`);
    expect(empty.output).toMatch(/knows no cluster/);

    // A Redis of another cluster.
    const foreign = mintClusterRecord();
    const redis = await ns.connect();
    await redis.set(`{${ns.prefix}-foreign}:meta:cluster`, JSON.stringify(foreign));
    const other = await runNode(cluster, `${ns.prefix}-foreign`);
    expect(other.code).toBe(78);
    expect(other.output).toMatch(/cluster ID mismatch/);
    expect(other.output).toContain(clusterId);
    expect(other.output).toContain(foreign.clusterId);

    // Refused, nothing was changed: with its own Redis the node serves every key again.
    await cluster.restart();
    const served = async () =>
      (await cluster.routes()).length === 2 && (await cluster.routes()).every((r) => r.address);
    await waitFor(served, 'the cluster to serve again', 60_000);
    for (const key of keys) expect((await client.get(key))?.equals(key)).toBe(true);

    // A WAL that went back (a Redis restored from an older AOF) is reported, not served.
    await cluster.stop();
    const [victim] = await routesOf(cluster);
    const meta = `${cluster.prefix}:wal:{${RegionId.parse(victim!.regionId).value}}:meta`;
    const log = meta.replace(/:meta$/, ':log');
    expect(Number(await redis.hget(meta, 'last'))).toBeGreaterThan(1);
    await redis.xtrim(log, 'MAXLEN', 1);
    await redis.hset(meta, 'last', 1);
    await cluster.restart();
    await waitFor(
      () =>
        readFileSync(join(cluster.dir, 'node-1.log'), 'utf8').includes(
          `WAL regression: region ${victim!.regionId}`,
        ),
      'the node to report the WAL regression',
      30_000,
    );
    const impatient = new RegionStoreClient({ metasrv: cluster.metasrvUrl, retryTimeoutMs: 2_000 });
    // The victim is the first region: its keys are those below its end.
    const inVictim = keys.filter((k) => Buffer.compare(k, Buffer.from(victim!.end, 'base64')) < 0);
    await expect(impatient.get(inVictim[0]!)).rejects.toThrow();
    await cluster.stop();

    // The cluster's own Redis, after losing its data: the metasrv does not bootstrap a new cluster.
    const admin = await ns.connect();
    const keysBefore = (await admin.keys(`*${cluster.prefix}*`)).length;
    expect(keysBefore).toBeGreaterThan(0);
    await dropKeys(admin, cluster.prefix);
    cluster.startMetasrv('metasrv-1', Number(new URL(cluster.metasrvUrl).port));
    const refused = await waitFor(
      async () => {
        const status = (await adminGet(cluster, '/admin/cluster')) as {
          problem: { code: string; message: string } | null;
        };
        return status.problem;
      },
      'the metasrv to refuse the bootstrap',
      30_000,
    );
    expect(refused!.code).toBe('ClusterIdMismatch');
    expect(refused!.message).toContain(`holds cluster ${clusterId}`);
    expect(refused!.message).toMatch(/Not bootstrapping/);
    expect(refused!.message).toMatch(/regionctl cluster recover/);
    expect(await cluster.routes()).toEqual([]);
    await cluster.stop();
  });

  it('regionctl cluster recover, after Redis lost the cluster, serves every flushed key again and reports the rest', async () => {
    const cluster = await clusters.start({ nodes: 2, initialRegions: 4 });
    const client = new RegionStoreClient({ metasrv: cluster.metasrvUrl, retryTimeoutMs: 60_000 });
    const flushed = spread('flushed', 32);
    for (const key of flushed) await client.put(key, key);
    for (const route of await cluster.routes()) await flush(cluster, route.leader, route.regionId);
    const late = spread('late', 8);
    for (const key of late) await client.put(key, key); // one WAL entry each, never flushed

    // Redis loses everything of the cluster while it runs.
    await dropKeys(await ns.connect(), cluster.prefix);
    await waitFor(
      async () => ((await adminGet(cluster, '/admin/cluster')) as { problem: unknown }).problem,
      'the metasrv to see the lost cluster',
      30_000,
    );
    await waitFor(
      async () =>
        ((await adminGet(cluster, '/admin/status')) as { nodes: Array<{ state: string }> }).nodes.filter(
          (n) => n.state === 'alive',
        ).length === 2,
      'both nodes to heartbeat again',
      30_000,
    );

    const cli = spawnSync(
      process.execPath,
      [CLI_MAIN, '--metasrv', cluster.metasrvUrl, '--json', 'cluster', 'recover'],
      {
        encoding: 'utf8',
      },
    );
    expect(cli.stderr).toBe('');
    expect(cli.status).toBe(0);
    const report = JSON.parse(cli.stdout) as {
      regions: Array<{ regionId: string; lost: { entries: number } | 'unknown' | null }>;
      unrecoverable: unknown[];
    };
    expect(report.regions).toHaveLength(4);
    expect(report.unrecoverable).toEqual([]);
    const lost = report.regions.map((r) => r.lost);
    expect(lost).not.toContain('unknown');
    expect(lost.reduce((sum, l) => sum + (l && l !== 'unknown' ? l.entries : 0), 0)).toBe(late.length);

    for (const key of flushed) expect((await client.get(key))?.equals(key)).toBe(true);
    for (const key of late) expect(await client.get(key)).toBeUndefined();
    await client.put(Buffer.from('after-recovery'), Buffer.from('ok'));
    expect((await client.get(Buffer.from('after-recovery')))?.toString()).toBe('ok');
    const status = (await adminGet(cluster, '/admin/cluster')) as { problem: unknown; clusterId: string };
    expect(status.problem).toBeNull();
  });
});

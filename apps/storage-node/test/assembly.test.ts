import 'reflect-metadata';
import { BACKUP_ENDPOINT, BackupTask, backupRequestSchema, type BackupEndpoint } from '@regionstore/backup';
import { RegionId, composeTimestamp, keyRange } from '@regionstore/core';
import { QueueNames, decodeJobPayload, gcSafePointKey } from '@regionstore/protocol';
import { RocksEngine } from '@regionstore/engine';
import { RedisLogStore } from '@regionstore/log-store';
import { createStorage } from '@regionstore/storage-backends';
import { TOKENS, createLogger, silentLogger, type Plugin } from '@regionstore/runtime';
import { Writable } from 'node:stream';
import { useRedisNamespace, useTempDir } from '@regionstore/testing';
import { Queue } from 'bullmq';
import { committedManifest } from '@regionstore/region-files';
import {
  NODE,
  STORAGE_NODE_PLUGINS,
  StorageNode,
  dataApiPlugin,
  heartbeatPlugin,
  logStorePlugin,
  regionRunnerPlugin,
  storageNodeConfigSchema,
  workerGroupPlugin,
  type DataApiServer,
  type NodePluginConfig,
} from '../src';

const ns = useRedisNamespace('node-assembly');
const dir = useTempDir('node-assembly');
const queues = new QueueNames(ns.prefix);

const config = (nodeId: string) =>
  storageNodeConfigSchema.parse({
    nodeId,
    redisUrl: ns.url,
    keyPrefix: ns.prefix,
    dataDir: dir.sub(`${nodeId}/db`),
    snapshotStorage: `local://${dir.sub('objects')}`,
    heartbeatIntervalMs: 50,
    // What Redis promises the WAL is not this test's subject (durability.test.ts checks it).
    wal: { durability: 'unsafe' },
  });

/** The heartbeats waiting in the metasrv queue (no metasrv consumes them here). */
async function heartbeatsOf(nodeId: string): Promise<{ address: string }[]> {
  const queue = new Queue(queues.metasrv, { connection: await ns.connect(), prefix: queues.bullmqPrefix });
  try {
    const jobs = await queue.getJobs(['waiting']);
    return jobs
      .map((job) => decodeJobPayload('heartbeat', job.data))
      .filter((beat) => beat.nodeId === nodeId);
  } finally {
    await queue.close();
  }
}

const until = async (what: string, test: () => Promise<boolean>) => {
  for (let i = 0; i < 100; i++) {
    if (await test()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`never: ${what}`);
};

describe('StorageNode assembled from plugins', () => {
  it('starts the standard plugins in order, is ready once all run, heartbeats its address, and stops them all', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logged = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    // The cluster's GC safepoint, taken before the node serves (no metasrv grants it one here).
    const safePoint = composeTimestamp(Date.now() - 60_000);
    await (await ns.connect()).set(gcSafePointKey(ns.prefix), safePoint.toString().padStart(20, '0'));
    const node = await StorageNode.start(config('std'), createLogger({ level: 'info' }, logged));
    const address = node.address!;
    try {
      expect(node.group.gcSafePoint).toBe(safePoint);
      expect(node.host.names).toEqual([
        'log-store',
        'region-runner',
        'worker-group',
        'gc-safe-point',
        'backup',
        'data-api',
        'task-worker',
        'heartbeat',
      ]);
      expect(node.host.names).toEqual(STORAGE_NODE_PLUGINS.map((p) => p.name));
      const ready = await fetch(`${address}/ready`);
      expect(ready.status).toBe(200);
      await until('a heartbeat', async () => (await heartbeatsOf('std')).length > 0);
      expect((await heartbeatsOf('std'))[0]!.address).toBe(address);
    } finally {
      await node.stop();
    }
    // Stopped: the port is released, and the heartbeats end.
    await expect(fetch(`${address}/ready`)).rejects.toThrow();
    // Every line names the node (SPEC §7), whichever part of it wrote the line.
    expect(lines.map((l) => l['msg'])).toEqual(
      expect.arrayContaining(['storage node started', 'storage node stopped']),
    );
    expect(lines.filter((l) => l['nodeId'] !== 'std')).toEqual([]);
    const sent = (await heartbeatsOf('std')).length;
    await new Promise((r) => setTimeout(r, 200));
    expect((await heartbeatsOf('std')).length).toBe(sent);
  });

  it('backs up only at a ts the node can vouch for: one far ahead of its clock is refused and raises nothing', async () => {
    const node = await StorageNode.start(config('ahead'), silentLogger());
    try {
      const region = new RegionId(1, 1);
      await node.group.ddl(region, {
        type: 'create',
        range: keyRange('', ''),
        epoch: { version: 1, confVer: 1 },
      });
      // A backup asked at a ts from a clock an hour fast: taken as it is, every later write would
      // commit above it, and a new leader elsewhere, which covers only maxReadAheadMs, below them.
      const hourAhead = composeTimestamp(Date.now() + 3_600_000);
      const endpoint = node.host.container.resolve<BackupEndpoint>(BACKUP_ENDPOINT);
      const task = BackupTask.create(
        backupRequestSchema.parse({ storage: 'noop://', endVersion: hourAhead.toString() }),
      );
      endpoint.run(task);
      const codes: Array<string | undefined> = [];
      for await (const response of task.responses()) codes.push(response.error?.code);
      expect(codes).toEqual(['InvalidArgument']);
      const { commitTs } = await node.group.write({
        regionId: region,
        mutations: [{ op: 'put', key: Buffer.from('k'), value: Buffer.from('v') }],
      });
      expect(commitTs).toBeLessThan(composeTimestamp(Date.now() + 60_000));
    } finally {
      await node.stop();
    }
  });

  it('flushes its leading regions when it stops, so the next open replays nothing', async () => {
    const settings = config('flush-on-stop');
    const node = await StorageNode.start(settings, silentLogger());
    const region = new RegionId(2, 1);
    try {
      await node.group.ddl(region, {
        type: 'create',
        range: keyRange('', ''),
        epoch: { version: 1, confVer: 1 },
      });
      for (const key of ['a', 'b', 'c'])
        await node.group.write({
          regionId: region,
          mutations: [{ op: 'put', key: Buffer.from(key), value: Buffer.from('v') }],
        });
    } finally {
      await node.stop();
    }
    const wal = new RedisLogStore(await ns.connect(), { prefix: ns.prefix });
    const storage = createStorage(settings.snapshotStorage);
    expect((await committedManifest({ storage, wal }, region))?.manifest.walEntryId).toBe(3);
  });

  it('runs an assembly of its own: no heartbeat or task worker, and a plugin of the user that reaches the parts', async () => {
    const seen: string[] = [];
    const probe: Plugin<NodePluginConfig> = {
      name: 'probe',
      register: () => undefined,
      start(container) {
        const api = container.resolve<DataApiServer>(NODE.DataApi);
        const own = container.resolve<NodePluginConfig>(TOKENS.Config);
        seen.push(`start ${own.nodeId} ${api.address.startsWith('http://127.0.0.1:')}`);
      },
      stop: () => void seen.push('stop'),
    };
    const node = await StorageNode.start(config('own'), silentLogger(), [
      logStorePlugin,
      regionRunnerPlugin,
      workerGroupPlugin,
      dataApiPlugin,
      probe,
    ]);
    try {
      expect(node.host.names).toEqual(['log-store', 'region-runner', 'worker-group', 'data-api', 'probe']);
      expect(seen).toEqual(['start own true']);
      expect((await fetch(`${node.address}/ready`)).status).toBe(200);
      await new Promise((r) => setTimeout(r, 200));
      expect(await heartbeatsOf('own')).toEqual([]);
    } finally {
      await node.stop();
    }
    expect(seen).toEqual(['start own true', 'stop']);
  });

  it('a plugin that fails to start stops the ones started and closes the engine', async () => {
    const broken: Plugin<NodePluginConfig> = {
      name: 'broken',
      register: () => undefined,
      start: () => {
        throw new Error('no such thing');
      },
    };
    const cfg = config('broken');
    await expect(
      StorageNode.start(cfg, silentLogger(), [...STORAGE_NODE_PLUGINS.slice(0, 5), broken, heartbeatPlugin]),
    ).rejects.toThrow(/plugin 'broken' failed to start: no such thing/);
    // RocksDB holds a lock while open: opening it again proves it was closed.
    const engine = await RocksEngine.open({ path: cfg.dataDir });
    await engine.close();
    expect(await heartbeatsOf('broken')).toEqual([]);
  });
});

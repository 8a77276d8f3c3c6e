import { RegionId, keyRange } from '@regionstore/core';
import { createRedis, silentLogger, waitForRedis } from '@regionstore/runtime';
import { join } from 'node:path';
import { BackupEndpoint, StaticRegionInfoProvider } from '@regionstore/backup';
import { RocksEngine } from '@regionstore/engine';
import { RedisLogStore } from '@regionstore/log-store';
import { QueueEvents, Queue } from 'bullmq';
import { RegionRunner } from '@regionstore/region-runner';
import { LocalStorage } from '@regionstore/storage-backends';
import { PrivateRedisServer, useTempDir } from '@regionstore/testing';
import { WorkerGroup } from '@regionstore/worker-group';
import { NodeTaskWorker } from '../src/task-worker';
import { decodeJobResult, encodeJobPayload } from '@regionstore/protocol';

const dir = useTempDir('task-worker-restart');

// BullMQ's known weakness: a worker that silently stops consuming after Redis restarts.
describe('node task worker', () => {
  it('keeps consuming jobs after Redis is killed and comes back, and refuses malformed jobs', async () => {
    const server = await PrivateRedisServer.start(dir.sub('redis'));
    const engine = await RocksEngine.open({ path: join(dir.path, 'db') });
    const storage = new LocalStorage(join(dir.path, 'objects'));
    const runner = new RegionRunner({ engine, storage });
    const walRedis = createRedis(server.url, 'client');
    await waitForRedis(walRedis);
    const wal = new RedisLogStore(walRedis, { prefix: 'p' });
    const group = WorkerGroup.start({
      nodeId: 'n1',
      engine,
      wal,
      storage,
      runner,
    });
    const worker = new NodeTaskWorker({ tasks: 'node-n1', bulk: 'node-n1.bulk' }, 'p', server.url, {
      allowedStorage: [],
      nodeId: 'n1',
      engine,
      snapshotStorage: storage,
      group,
      runner,
      backup: new BackupEndpoint({
        storeId: 'n1',
        engine,
        regionInfo: new StaticRegionInfoProvider(),
        concurrency: group.concurrency,
      }),
      logger: silentLogger(),
    });
    const connections = [createRedis(server.url, 'worker'), createRedis(server.url, 'worker')];
    const queue = new Queue('node-n1', { connection: connections[0]!, prefix: 'p' });
    const events = new QueueEvents('node-n1', { connection: connections[1]!, prefix: 'p' });
    await events.waitUntilReady();
    const create = async (n: number) => {
      const job = await queue.add(
        'create-region',
        encodeJobPayload('create-region', {
          regionId: new RegionId(4, n),
          range: keyRange(Buffer.from([n]), Buffer.from([n + 1])),
          epoch: { version: 1, confVer: 1 },
        }),
      );
      return decodeJobResult('create-region', await job.waitUntilFinished(events, 20_000));
    };
    try {
      expect((await create(1)).regionId.toString()).toBe('4:1');

      await server.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 500));
      await server.restart();
      await waitForRedis(walRedis, 10_000).catch(() => undefined);

      // the worker must pick this up without being restarted itself
      expect((await create(2)).regionId.toString()).toBe('4:2');
      expect(group.isRegionExists(new RegionId(4, 2))).toBe(true);

      // a malformed payload fails its job at once with a typed reason, and the worker goes on
      const bad = await queue.add('create-region', { regionId: 'not-a-region', range: 42 });
      const reason = await bad.waitUntilFinished(events, 20_000).then(
        () => 'completed',
        (err: Error) => err.message,
      );
      expect(JSON.parse(reason)).toMatchObject({ code: 'InvalidArgument' });
      expect(JSON.parse(reason).message).toMatch(/regionId/);
      const unknown = await queue.add('format-disk', {});
      await expect(unknown.waitUntilFinished(events, 20_000)).rejects.toThrow(/unknown job 'format-disk'/);
      expect((await create(3)).regionId.toString()).toBe('4:3');
    } finally {
      await worker.close(2000);
      await events.close();
      await queue.close();
      await group.stop();
      await wal.close();
      await runner.stop();
      await engine.close();
      walRedis.disconnect();
      for (const connection of connections) connection.disconnect();
      await server.kill();
    }
  }, 60_000);
});

import 'reflect-metadata';
import { join } from 'node:path';
import { RegionId, keyRange } from '@regionstore/core';
import { PluginHost, TOKENS } from '@regionstore/runtime';
import { ConcurrencyManager, RocksEngine, mvccGet } from '@regionstore/engine';
import { logStorePlugin, type LogStorePluginConfig } from '@regionstore/log-store';
import { regionRunnerPlugin, type RegionRunnerConfigInput } from '@regionstore/region-runner';
import { LocalStorage } from '@regionstore/storage-backends';
import { useRedisNamespace, useTempDir } from '@regionstore/testing';
import {
  WORKER_GROUP,
  WorkerGroup,
  workerGroupPlugin,
  type WorkerGroupConfigInput,
} from '@regionstore/worker-group';
import { container as root } from 'tsyringe';

type NodeConfig = LogStorePluginConfig & {
  nodeId: string;
  regionRunner?: RegionRunnerConfigInput;
  workerGroup?: WorkerGroupConfigInput;
};

const dir = useTempDir('worker-group-plugin');
const ns = useRedisNamespace('worker-group-plugin');

describe('workerGroupPlugin', () => {
  it('composes log store, region runner and worker group into a node that takes writes', async () => {
    const container = root.createChildContainer();
    const engine = await RocksEngine.open({ path: join(dir.path, 'db') });
    container.register(TOKENS.Engine, { useValue: engine });
    container.register(TOKENS.SnapshotStorage, { useValue: new LocalStorage(join(dir.path, 'objects')) });
    const config: NodeConfig = {
      nodeId: 'node-p',
      redisUrl: ns.url,
      keyPrefix: ns.prefix,
      workerGroup: { numWorkers: 2 },
    };
    const host = new PluginHost(container, config);
    await host.register(logStorePlugin, regionRunnerPlugin, workerGroupPlugin);
    await host.start();
    const group = container.resolve<WorkerGroup>(WORKER_GROUP);
    expect(container.resolve(WORKER_GROUP)).toBe(group);
    expect(container.resolve(TOKENS.ConcurrencyManager)).toBeInstanceOf(ConcurrencyManager);
    expect(group.concurrency).toBe(container.resolve(TOKENS.ConcurrencyManager));
    const region = new RegionId(3, 1);
    await group.ddl(region, {
      type: 'create',
      range: keyRange(Buffer.alloc(0), Buffer.alloc(0)),
      epoch: { version: 1, confVer: 1 },
    });
    await group.write({
      regionId: region,
      mutations: [{ op: 'put', key: Buffer.from('k'), value: Buffer.from('v') }],
    });
    expect((await mvccGet(engine, Buffer.from('k')))?.toString()).toBe('v');
    await host.stop();
    await expect(group.write({ regionId: region, mutations: [] })).rejects.toMatchObject({
      code: 'WorkerStopped',
    });
    await engine.close();
  });
});

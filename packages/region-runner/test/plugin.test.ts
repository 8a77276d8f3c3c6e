import 'reflect-metadata';
import { PluginHost, TOKENS } from '@regionstore/runtime';
import { REGION_RUNNER, RegionRunner, RegionTask, regionRunnerPlugin } from '@regionstore/region-runner';
import { container as root } from 'tsyringe';
import { b, region, useRunnerFixtures } from './helpers';

const fixtures = useRunnerFixtures('region-runner-plugin');

describe('regionRunnerPlugin', () => {
  it('binds one runner over the container engine and storage, configured from the app config', async () => {
    const container = root.createChildContainer();
    container.register(TOKENS.Engine, { useValue: await fixtures.engine() });
    container.register(TOKENS.SnapshotStorage, { useValue: fixtures.storage() });
    const host = new PluginHost(container, { regionRunner: { snapGeneratorPoolSize: 3, cleanStaleTick: 5 } });
    await host.register(regionRunnerPlugin);
    await host.start();
    const runner = container.resolve<RegionRunner>(REGION_RUNNER);
    expect(container.resolve(REGION_RUNNER)).toBe(runner);
    expect(runner.config.snapGeneratorPoolSize).toBe(3);
    expect(runner.config.cleanStaleTick).toBe(5);
    expect(runner.config.tickIntervalMs).toBe(1000);
    await runner.schedule(RegionTask.destroy(region(1), b('a'), b('b')));
    await host.stop();
    await expect(runner.schedule(RegionTask.destroy(region(1), b('a'), b('b')))).rejects.toMatchObject({
      code: 'WorkerStopped',
    });
  });

  it('rejects a bad config when the runner is built', async () => {
    const container = root.createChildContainer();
    container.register(TOKENS.Engine, { useValue: await fixtures.engine() });
    container.register(TOKENS.SnapshotStorage, { useValue: fixtures.storage() });
    const host = new PluginHost(container, { regionRunner: { snapGeneratorPoolSize: 0 } });
    await host.register(regionRunnerPlugin);
    await expect(host.start()).rejects.toThrow(/snapGeneratorPoolSize/);
  });
});

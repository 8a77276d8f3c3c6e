import { InternalError } from '@regionstore/core';
import { PluginHost, type Plugin } from '@regionstore/runtime';
import { container as root } from 'tsyringe';

function recorder() {
  const events: string[] = [];
  const plugin = (
    name: string,
    behaviour: { start?: () => Promise<void>; stop?: () => Promise<void> } = {},
  ): Plugin<{ v: number }> => ({
    name,
    register(container, config) {
      events.push(`register:${name}`);
      container.register(Symbol.for(name), { useValue: config.v });
    },
    async start() {
      events.push(`start:${name}`);
      await behaviour.start?.();
    },
    async stop() {
      events.push(`stop:${name}`);
      await behaviour.stop?.();
    },
  });
  return { events, plugin };
}

describe('PluginHost', () => {
  it('registers and starts in order, stops in reverse order', async () => {
    const { events, plugin } = recorder();
    const container = root.createChildContainer();
    const host = new PluginHost(container, { v: 7 });
    await host.register(plugin('engine'), plugin('wal'), plugin('workers'));
    expect(container.resolve(Symbol.for('wal'))).toBe(7);
    await host.start();
    await host.stop();
    expect(events).toEqual([
      'register:engine',
      'register:wal',
      'register:workers',
      'start:engine',
      'start:wal',
      'start:workers',
      'stop:workers',
      'stop:wal',
      'stop:engine',
    ]);
  });

  it('stops what started when a later plugin fails to start, and names the failure', async () => {
    const { events, plugin } = recorder();
    const host = new PluginHost(root.createChildContainer(), { v: 1 });
    await host.register(
      plugin('a'),
      plugin('b', { start: () => Promise.reject(new Error('disk full')) }),
      plugin('c'),
    );
    await expect(host.start()).rejects.toThrow("plugin 'b' failed to start: disk full");
    expect(events).toEqual(['register:a', 'register:b', 'register:c', 'start:a', 'start:b', 'stop:a']);
  });

  it('times out a stuck start', async () => {
    const { plugin } = recorder();
    const host = new PluginHost(root.createChildContainer(), { v: 1 }, { startTimeoutMs: 50 });
    await host.register(plugin('stuck', { start: () => new Promise(() => undefined) }));
    await expect(host.start()).rejects.toThrow(/did not finish within 50 ms/);
  });

  it('keeps stopping the others when one stop hangs or throws, then reports them', async () => {
    const { events, plugin } = recorder();
    const host = new PluginHost(root.createChildContainer(), { v: 1 }, { stopTimeoutMs: 50 });
    await host.register(
      plugin('a'),
      plugin('hang', { stop: () => new Promise(() => undefined) }),
      plugin('boom', { stop: () => Promise.reject(new Error('nope')) }),
    );
    await host.start();
    const err = await host.stop().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InternalError);
    expect((err as InternalError).message).toMatch(
      /boom: nope; hang: stop of plugin 'hang' did not finish within 50 ms/,
    );
    expect(events.slice(-3)).toEqual(['stop:boom', 'stop:hang', 'stop:a']);
  });

  it('refuses the same plugin name twice', async () => {
    const { plugin } = recorder();
    const host = new PluginHost(root.createChildContainer(), { v: 1 });
    await expect(host.register(plugin('x'), plugin('x'))).rejects.toThrow(/registered twice/);
  });
});

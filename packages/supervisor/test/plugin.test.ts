import 'reflect-metadata';
import { RegionId } from '@regionstore/core';
import { PluginHost, TOKENS, createMetricsRegistry, silentLogger } from '@regionstore/runtime';
import {
  SUPERVISOR,
  SUPERVISOR_PORTS,
  supervisorPlugin,
  type SupervisorPluginConfig,
  type SupervisorPorts,
  type SupervisorService,
} from '@regionstore/supervisor';
import { useRedisNamespace } from '@regionstore/testing';
import { container as root } from 'tsyringe';
import { A, B, Cluster } from './cluster-fake';

const ns = useRedisNamespace('supervisor-plugin');

async function hosted(config: SupervisorPluginConfig, withRoutes: boolean) {
  const cluster = new Cluster();
  cluster.addRegion(new RegionId(5, 1), A);
  const container = root.createChildContainer();
  const metrics = createMetricsRegistry({ defaultMetrics: false });
  container.register(TOKENS.Metrics, { useValue: metrics });
  const ports: SupervisorPorts = {
    redis: await ns.connect(),
    routes: cluster,
    nodes: cluster,
    fences: cluster,
    peers: { node: async (id) => [A, B].find((p) => p.id === id) },
    candidates: async () => [
      { ...A, alive: true, regionCount: 1 },
      { ...B, alive: true, regionCount: 0 },
    ],
    ...(withRoutes ? { allRoutes: async () => [] } : {}),
  };
  container.register(SUPERVISOR_PORTS, { useValue: ports });
  const host = new PluginHost<SupervisorPluginConfig>(container, config, { logger: silentLogger() });
  await host.register(supervisorPlugin);
  await host.start();
  return { host, service: container.resolve<SupervisorService>(SUPERVISOR), metrics };
}

describe('supervisorPlugin (how the metasrv assembles its supervisor)', () => {
  it('builds the service from the bound ports and the config, registers its metrics, and stops with the host', async () => {
    const { host, service, metrics } = await hosted(
      {
        keyPrefix: ns.prefix,
        supervisor: { tickIntervalMs: 200, threshold: 5, acceptableHeartbeatPauseMillis: 1000 },
        failoverGraceMs: 100,
        balance: { enabled: true, intervalMs: 1000 },
      },
      true,
    );
    expect(service.balance).toBeDefined();
    expect(await metrics.metrics()).toMatch(/regionstore_supervisor_failovers_total/);
    // The loop runs: a heartbeat reaches the detectors.
    await service.heartbeats.accept({ nodeId: A.id, regions: [new RegionId(5, 1)], timestampMs: Date.now() });
    expect((await service.control.phiByNode(Date.now())).has(A.id)).toBe(true);
    await host.stop();
    await expect(service.heartbeats.accept({ nodeId: A.id, regions: [], timestampMs: 0 })).rejects.toThrow();
  });

  it('balances only when enabled and given every route', async () => {
    const off = await hosted({ keyPrefix: ns.prefix, balance: { enabled: false, intervalMs: 1000 } }, true);
    expect(off.service.balance).toBeUndefined();
    await off.host.stop();
    const noRoutes = await hosted(
      { keyPrefix: ns.prefix, balance: { enabled: true, intervalMs: 1000 } },
      false,
    );
    expect(noRoutes.service.balance).toBeUndefined();
    await noRoutes.host.stop();
  });
});

import { counter, gauge, type Counter, type Registry } from '@regionstore/runtime';
import type { Queue } from 'bullmq';
import type { ClusterStore } from './cluster-store';

export interface MetasrvMetricSources {
  store: Pick<ClusterStore, 'nodes' | 'routes'>;
  isLeader: () => boolean;
  /** Per node, the highest phi of its regions' failure detectors (nodes not watched are missing). */
  phiByNode: () => Promise<Map<string, number>>;
  queues: () => Queue[];
}

const JOB_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;

/**
 * The cluster as the metasrv sees it, read from Redis at each scrape: nodes by state, regions and
 * leaders per node, phi per node, queue depths; and leader changes as they happen. Every instance
 * answers (a standby shows the same cluster, with `leader` 0).
 */
export function metasrvMetrics(
  registry: Registry,
  sources: MetasrvMetricSources,
): { leaderChanges: Counter } {
  gauge(registry, {
    component: 'metasrv',
    what: 'leader',
    help: '1 while this instance holds the metasrv leader lease',
    collect: (g) => g.set(sources.isLeader() ? 1 : 0),
  });
  gauge<'state'>(registry, {
    component: 'metasrv',
    what: 'nodes',
    help: 'Storage nodes known to the metasrv, by state (alive: heartbeat within nodeDeadAfterMs)',
    labelNames: ['state'],
    collect: async (g) => {
      const nodes = await sources.store.nodes();
      g.set({ state: 'alive' }, nodes.filter((n) => n.alive).length);
      g.set({ state: 'dead' }, nodes.filter((n) => !n.alive).length);
    },
  });
  gauge<'node'>(registry, {
    component: 'metasrv',
    what: 'region_leaders',
    help: 'Regions routed to each node (the node leads them)',
    labelNames: ['node'],
    collect: async (g) => {
      const [nodes, routes] = await Promise.all([sources.store.nodes(), sources.store.routes()]);
      g.reset();
      for (const node of nodes) g.set({ node: node.id }, 0);
      for (const route of routes) if (route.leader) g.inc({ node: route.leader });
    },
  });
  gauge<'node'>(registry, {
    component: 'metasrv',
    what: 'node_phi',
    help: 'Phi of the failure detector per node (the highest of its regions); failover above the threshold',
    labelNames: ['node'],
    collect: async (g) => {
      g.reset();
      for (const [node, phi] of await sources.phiByNode()) {
        if (Number.isFinite(phi)) g.set({ node }, phi);
      }
    },
  });
  gauge<'queue' | 'state'>(registry, {
    component: 'metasrv',
    what: 'queue_jobs',
    help: 'BullMQ jobs per queue and state',
    labelNames: ['queue', 'state'],
    collect: async (g) => {
      g.reset();
      for (const queue of sources.queues()) {
        const counts = await queue.getJobCounts(...JOB_STATES);
        for (const state of JOB_STATES) g.set({ queue: queue.name, state }, counts[state] ?? 0);
      }
    },
  });
  return {
    leaderChanges: counter(registry, {
      component: 'metasrv',
      what: 'leader_changes',
      help: 'Times this instance won or lost the leader lease',
      labelNames: ['change'],
    }),
  };
}

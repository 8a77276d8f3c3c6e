import type { MetasrvConfig } from '../config';

/** Tokens the metasrv's plugins bind and resolve (inject by token: bundlers drop type metadata). */
export const METASRV = {
  /** The metasrv's fail-fast Redis connection (routes, nodes, leases, operation records). */
  Redis: Symbol.for('regionstore.metasrv.Redis'),
  ClusterStore: Symbol.for('regionstore.metasrv.ClusterStore'),
  /** Sends tasks to storage nodes (NodeTaskClient). */
  NodeTasks: Symbol.for('regionstore.metasrv.NodeTasks'),
  RegionLeases: Symbol.for('regionstore.metasrv.RegionLeases'),
  /** The `metasrv` BullMQ queue, where nodes send heartbeats. */
  HeartbeatQueue: Symbol.for('regionstore.metasrv.HeartbeatQueue'),
  /** Every queue this metasrv has open: the heartbeat queue and each node queue so far (`() => Queue[]`). */
  Queues: Symbol.for('regionstore.metasrv.Queues'),
  Backups: Symbol.for('regionstore.metasrv.Backups'),
  Restores: Symbol.for('regionstore.metasrv.Restores'),
  Leadership: Symbol.for('regionstore.metasrv.Leadership'),
  /** The cluster GC safepoint (GcSafePoints). */
  Gc: Symbol.for('regionstore.metasrv.Gc'),
  /** The cluster identity (MetasrvClusterIdentity) and its recovery (ClusterRecovery). */
  Identity: Symbol.for('regionstore.metasrv.Identity'),
  Recovery: Symbol.for('regionstore.metasrv.Recovery'),
  AdminApi: Symbol.for('regionstore.metasrv.AdminApi'),
  /** Routes a plugin adds to the admin API (many may be bound; see AdminRoutes). */
  AdminRoutes: Symbol.for('regionstore.metasrv.AdminRoutes'),
} as const;

/** The config every metasrv plugin receives: the app's, with the instance id settled. */
export type MetasrvPluginConfig = MetasrvConfig & { instanceId: string };

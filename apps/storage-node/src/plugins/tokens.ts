import type { StorageNodeConfig } from '../config';

/** Tokens the storage node's own plugins bind and resolve (inject by token: bundlers drop type metadata). */
export const NODE = {
  /** The region leases this node holds, renewed by the heartbeat (RegionLeases). */
  RegionLeases: Symbol.for('regionstore.node.RegionLeases'),
  /** Serves reads from the regions this node may answer for (RegionReader). */
  Reader: Symbol.for('regionstore.node.Reader'),
  /** What Redis was seen to promise for the WAL at start (DurabilityReport, shown by /ready). */
  Durability: Symbol.for('regionstore.node.Durability'),
  /** The data API's HTTP server (DataApiServer). */
  DataApi: Symbol.for('regionstore.node.DataApi'),
  /** The worker on `node-<id>` that runs the metasrv's tasks (NodeTaskWorker). */
  Tasks: Symbol.for('regionstore.node.Tasks'),
  /** Which cluster the node's data belongs to (NodeClusterIdentity), checked before region tasks. */
  Identity: Symbol.for('regionstore.node.Identity'),
  /** Counts requests per region and proposes load-based split keys (LoadSplitDetector), when enabled. */
  LoadSplit: Symbol.for('regionstore.node.LoadSplit'),
  /** Heartbeats to the metasrv and the lease grants that answer them (HeartbeatLoop). */
  Heartbeats: Symbol.for('regionstore.node.Heartbeats'),
} as const;

/** The config every storage node plugin receives. */
export type NodePluginConfig = StorageNodeConfig;

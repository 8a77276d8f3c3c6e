// The metasrv as a library: start it with the standard plugins, or assemble a process of one's own.
export { Metasrv, METASRV_PLUGINS } from './metasrv';
export { metasrvConfigSchema, type MetasrvConfig } from './config';
export { METASRV, type MetasrvPluginConfig } from './plugins/tokens';
export { clusterMetadataPlugin } from './plugins/cluster-metadata-plugin';
export { operationsPlugin } from './plugins/operations-plugin';
export { bullBoardPlugin } from './plugins/bull-board-plugin';
export { adminApiPlugin, AdminApiServer } from './plugins/admin-api-plugin';
export { leadershipPlugin } from './plugins/leadership-plugin';
export type { AdminRoutes, AdminRouteContext } from './admin-routes';
export type { Leadership } from './leadership';
export type { ClusterStore } from './cluster-store';
export { NodeTaskClient } from './node-client';
export { clusterIdentityPlugin } from './plugins/cluster-identity-plugin';
export { MetasrvClusterIdentity } from './cluster-identity';
export { ClusterRecovery, type RecoveryReport, type RecoveredRegionReport } from './cluster-recovery';
export { QueueNames } from '@regionstore/protocol';
export { supervisorPlugin } from '@regionstore/supervisor';

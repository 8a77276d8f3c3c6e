// The storage node as a library: start it with the standard plugins, or assemble a process of one's own.
export { StorageNode, STORAGE_NODE_PLUGINS } from './storage-node';
export { storageNodeConfigSchema, type StorageNodeConfig, type StorageNodeConfigInput } from './config';
export { NODE, type NodePluginConfig } from './plugins/tokens';
export { dataApiPlugin, DataApiServer } from './plugins/data-api-plugin';
export { taskWorkerPlugin } from './plugins/task-worker-plugin';
export { heartbeatPlugin } from './plugins/heartbeat-plugin';
export { gcSafePointPlugin } from './plugins/gc-safe-point-plugin';
export { logStorePlugin } from '@regionstore/log-store';
export { regionRunnerPlugin } from '@regionstore/region-runner';
export { workerGroupPlugin } from '@regionstore/worker-group';
export { backupPlugin } from '@regionstore/backup';

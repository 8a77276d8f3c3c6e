#!/usr/bin/env node
import 'reflect-metadata';
import { configureFailPointsFrom, isRegionStoreError } from '@regionstore/core';
import { createLogger, exitWithParentRequested, stopOnSignals } from '@regionstore/runtime';
import { loadStorageNodeConfig } from './config';
import { StorageNode } from './storage-node';

/** `regionstore-node [config.json]`; every key can also come from REGIONSTORE_* variables. */
async function main(): Promise<void> {
  const file = process.argv[2] ?? process.env.REGIONSTORE_CONFIG;
  const config = loadStorageNodeConfig(file ? { file } : {});
  const logger = createLogger({ level: config.logLevel, name: `storage-node ${config.nodeId}` });
  configureFailPointsFrom(process.env.REGIONSTORE_FAILPOINTS);
  const node = await StorageNode.start(config, logger);
  stopOnSignals(() => node.stop(), {
    timeoutMs: config.shutdownTimeoutMs,
    logger,
    exitWithParent: exitWithParentRequested(),
  });
}

/** A node that refuses a cluster that is not its own exits with this (EX_CONFIG), not 1: a launcher tells it apart from a crash. */
const EXIT_CLUSTER_MISMATCH = 78;

main().catch((err: unknown) => {
  if (isRegionStoreError(err, 'ClusterIdMismatch')) {
    process.stderr.write(`storage node refuses to start: ${err.message}\n`);
    process.exit(EXIT_CLUSTER_MISMATCH);
  }
  process.stderr.write(`storage node failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

#!/usr/bin/env node
import 'reflect-metadata';
import { configureFailPointsFrom } from '@regionstore/core';
import { createLogger, exitWithParentRequested, loadConfig, stopOnSignals } from '@regionstore/runtime';
import { storageNodeConfigSchema } from './config';
import { StorageNode } from './storage-node';

/** `regionstore-node [config.json]`; every key can also come from REGIONSTORE_* variables. */
async function main(): Promise<void> {
  const file = process.argv[2] ?? process.env.REGIONSTORE_CONFIG;
  const config = loadConfig(storageNodeConfigSchema, file ? { file } : {});
  const logger = createLogger({ level: config.logLevel, name: `storage-node ${config.nodeId}` });
  configureFailPointsFrom(process.env.REGIONSTORE_FAILPOINTS);
  const node = await StorageNode.start(config, logger);
  stopOnSignals(() => node.stop(), {
    timeoutMs: config.shutdownTimeoutMs,
    logger,
    exitWithParent: exitWithParentRequested(),
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`storage node failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

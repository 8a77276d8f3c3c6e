#!/usr/bin/env node
import 'reflect-metadata';
import { createLogger, exitWithParentRequested, loadConfig, stopOnSignals } from '@regionstore/runtime';
import { checkAdminExposure, metasrvConfigSchema } from './config';
import { Metasrv } from './metasrv';

/** `regionstore-metasrv [config.json]`; every key can also come from REGIONSTORE_* variables. */
async function main(): Promise<void> {
  const file = process.argv[2] ?? process.env.REGIONSTORE_CONFIG;
  const config = loadConfig(metasrvConfigSchema, file ? { file } : {});
  checkAdminExposure(config);
  const logger = createLogger({ level: config.logLevel, name: 'metasrv' });
  const metasrv = await Metasrv.start(config, logger);
  stopOnSignals(() => metasrv.stop(), {
    timeoutMs: 10_000,
    logger,
    exitWithParent: exitWithParentRequested(),
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`metasrv failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

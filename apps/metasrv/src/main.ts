#!/usr/bin/env node
import 'reflect-metadata';
import { createLogger, loadConfig } from '@regionstore/core';
import { checkAdminExposure, metasrvConfigSchema } from './config';
import { Metasrv } from './metasrv';

/** `regionstore-metasrv [config.json]`; every key can also come from REGIONSTORE_* variables. */
async function main(): Promise<void> {
  const file = process.argv[2] ?? process.env.REGIONSTORE_CONFIG;
  const config = loadConfig(metasrvConfigSchema, file ? { file } : {});
  checkAdminExposure(config);
  const logger = createLogger({ level: config.logLevel, name: 'metasrv' });
  const metasrv = await Metasrv.start(config, logger);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    metasrv.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`metasrv failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

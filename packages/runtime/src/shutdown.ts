import type { Logger } from './logger';

/**
 * Stops a process cleanly on SIGTERM or SIGINT: runs `stop` once, exits 0 when it ends and 1 when it
 * fails or outlasts `timeoutMs` (so a stuck shutdown never keeps a process alive).
 */
export function stopOnSignals(
  stop: () => Promise<void>,
  options: {
    timeoutMs: number;
    logger: Logger;
    /**
     * Also stop when the parent process is gone (this process was re-parented): a launcher killed
     * without the chance to stop its children must not leave them running, holding their ports.
     */
    exitWithParent?: boolean;
  },
): void {
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    options.logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      options.logger.error('shutdown deadline passed; exiting');
      process.exit(1);
    }, options.timeoutMs);
    force.unref();
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        options.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  if (options.exitWithParent) {
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid !== parent) shutdown('parent exited');
    }, 500).unref();
  }
}

/** Whether a launcher asked this process to stop with it (`REGIONSTORE_EXIT_WITH_PARENT=1`). */
export function exitWithParentRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.REGIONSTORE_EXIT_WITH_PARENT === '1';
}

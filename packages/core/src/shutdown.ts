import type { Logger } from './logger';

/**
 * Stops a process cleanly on SIGTERM or SIGINT: runs `stop` once, exits 0 when it ends and 1 when it
 * fails or outlasts `timeoutMs` (so a stuck shutdown never keeps a process alive).
 */
export function stopOnSignals(
  stop: () => Promise<void>,
  options: { timeoutMs: number; logger: Logger },
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
}

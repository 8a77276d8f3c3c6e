import type { TimeProvider } from '@regionstore/core';

/**
 * A round every `intervalMs` from `start` (the first after `delayMs`) until `stop`: what the metasrv
 * leader runs and a standby does not. A round that fails goes to `onError`; the next one runs anyway.
 */
export class PeriodicRounds {
  private timer: AbortController | undefined;

  constructor(
    private readonly time: TimeProvider,
    private readonly intervalMs: number,
    private readonly round: () => Promise<unknown>,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(delayMs = this.intervalMs): void {
    if (this.timer) return;
    const timer = new AbortController();
    this.timer = timer;
    void (async () => {
      let wait = delayMs;
      while (!timer.signal.aborted) {
        await this.time.sleep(wait, timer.signal).catch(() => undefined);
        wait = this.intervalMs;
        if (timer.signal.aborted) return;
        await this.round().catch(this.onError);
      }
    })();
  }

  stop(): void {
    this.timer?.abort();
    this.timer = undefined;
  }
}

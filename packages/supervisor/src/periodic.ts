import type { TimeProvider } from '@regionstore/core';

/**
 * Runs `round` every `intervalMs`, the first after `delayMs`, until the returned controller aborts;
 * a round that fails goes to `onError` and the next one runs anyway.
 */
export function runPeriodically(
  time: TimeProvider,
  intervalMs: number,
  delayMs: number,
  round: () => Promise<unknown>,
  onError: (err: unknown) => void,
): AbortController {
  const timer = new AbortController();
  void (async () => {
    let wait = delayMs;
    while (!timer.signal.aborted) {
      await time.sleep(wait, timer.signal).catch(() => undefined);
      wait = intervalMs;
      if (timer.signal.aborted) return;
      await round().catch(onError);
    }
  })();
  return timer;
}

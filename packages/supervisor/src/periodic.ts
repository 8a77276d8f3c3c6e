import { RealTimeProvider, type TimeProvider } from '@regionstore/core';
import {
  counter,
  createMetricsRegistry,
  silentLogger,
  type Counter,
  type Logger,
  type Registry,
} from '@regionstore/runtime';

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

/**
 * A metasrv-leader checker that acts in rounds (split, merge): its rounds, its logger, and a counter
 * of round results named `regionstore_supervisor_<what>_total{result}`.
 */
export abstract class PeriodicChecker<R extends string> {
  protected readonly time: TimeProvider;
  protected readonly logger: Logger;
  private readonly rounds: PeriodicRounds;
  private readonly results: Counter<'result'>;

  constructor(
    options: { time?: TimeProvider; logger?: Logger; metrics?: Registry; intervalMs: number },
    what: string,
    help: string,
  ) {
    this.time = options.time ?? new RealTimeProvider();
    this.logger = options.logger ?? silentLogger();
    this.rounds = new PeriodicRounds(
      this.time,
      options.intervalMs,
      () => this.tick(),
      (err) => this.logger.warn({ err }, `${what.replaceAll('_', ' ')} round failed`),
    );
    this.results = counter(options.metrics ?? createMetricsRegistry({ defaultMetrics: false }), {
      component: 'supervisor',
      what,
      unit: 'total',
      help,
      labelNames: ['result'],
    });
  }

  start(delayMs?: number): void {
    this.rounds.start(delayMs);
  }

  stop(): void {
    this.rounds.stop();
  }

  abstract tick(): Promise<unknown>;

  /** Counts a round's result and hands it back. */
  protected count<T extends R>(result: T): T {
    this.results.inc({ result });
    return result;
  }
}

import { RealTimeProvider, type TimeProvider } from '@regionstore/core';
import { silentLogger, type Logger } from '@regionstore/runtime';
import type { Channel } from '@regionstore/core';
import type { SupervisorEvent } from './events';

export const DEFAULT_TICK_INTERVAL_MS = 1000;

/**
 * Drives failure detection: on start it sends `Clear` (detectors from an earlier leadership are stale),
 * then a `Tick` every interval. Ticks missed while the supervisor was busy are skipped, not queued.
 * The metasrv starts it when it becomes leader and stops it when it loses leadership.
 */
export class RegionSupervisorTicker {
  private running: AbortController | undefined;

  constructor(
    private readonly channel: Channel<SupervisorEvent>,
    readonly tickIntervalMs: number = DEFAULT_TICK_INTERVAL_MS,
    private readonly time: TimeProvider = new RealTimeProvider(),
    private readonly logger: Logger = silentLogger(),
  ) {}

  get isRunning(): boolean {
    return this.running !== undefined;
  }

  /** Starts ticking; a second start while running does nothing. */
  start(): void {
    if (this.running) return;
    const controller = new AbortController();
    this.running = controller;
    void this.loop(controller.signal).catch((err: unknown) => {
      if (!controller.signal.aborted) this.logger.error({ err }, 'supervisor ticker stopped');
    });
  }

  stop(): void {
    this.running?.abort();
    this.running = undefined;
  }

  private async loop(signal: AbortSignal): Promise<void> {
    await this.channel.send({ type: 'Clear' });
    while (!signal.aborted) {
      await this.time.sleep(this.tickIntervalMs, signal);
      if (signal.aborted) return;
      // Waiting here while the channel is full is what skips missed ticks.
      await this.channel.send({ type: 'Tick' });
    }
  }
}

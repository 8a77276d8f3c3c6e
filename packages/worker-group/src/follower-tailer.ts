import type { RegionId, TimeProvider } from '@regionstore/core';
import type { FollowerPosition, LogStore, WalEntry } from '@regionstore/log-store';
import type { Logger } from '@regionstore/runtime';
import type { WorkerRegion } from './region';

export interface FollowerTailerOptions {
  wal: LogStore;
  /** This node, as its followers' positions name it. */
  nodeId: string;
  /** The node's follower regions right now. */
  followers: () => WorkerRegion[];
  /** Hands what was read to the region's worker and resolves once it applied it. */
  apply: (regionId: RegionId, entries: WalEntry[], position: FollowerPosition | undefined) => Promise<void>;
  /** How long one read waits for new entries (and a new follower waits to be read). */
  blockMs: number;
  /** Entries per region per read. */
  batchSize: number;
  /** How often the WAL positions (resolved ts, trim point, incarnation) are read. */
  positionIntervalMs: number;
  time: TimeProvider;
  logger: Logger;
}

/**
 * Keeps a node's followers up with their leaders' WALs: one loop, one blocking read for all of
 * them (never a Redis connection per region), entries handed to each region's worker to apply. Now
 * and then it also reads where each WAL stands, which carries the leaders' resolved ts, and reports
 * where each follower stands, which the leaders' trims respect.
 */
export class FollowerTailer {
  private stopped = new AbortController();
  private loop: Promise<void> | undefined;
  private lastPositionsMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: FollowerTailerOptions) {}

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { time, logger } = this.options;
    const signal = this.stopped.signal;
    while (!signal.aborted) {
      try {
        await this.round(signal);
      } catch (err) {
        if (signal.aborted) break;
        logger.warn({ err }, 'follower tail read failed; retrying');
        await time.sleep(500, signal).catch(() => undefined);
      }
    }
  }

  private async round(signal: AbortSignal): Promise<void> {
    const { wal, time, blockMs, batchSize, positionIntervalMs } = this.options;
    const followers = this.options.followers();
    if (followers.length === 0) {
      await time.sleep(blockMs, signal).catch(() => undefined);
      return;
    }
    const found = await wal.tail(
      followers.map((r) => ({ regionId: r.regionId, afterId: r.lastEntryId })),
      { blockMs, count: batchSize },
    );
    let positions: Map<bigint, FollowerPosition> | undefined;
    if (time.now() - this.lastPositionsMs >= positionIntervalMs) {
      this.lastPositionsMs = time.now();
      positions = await wal.followerPositions(followers.map((r) => r.regionId));
    }
    if (signal.aborted) return;
    await Promise.all(
      followers.map(async (region) => {
        const entries = found.get(region.regionId.value) ?? [];
        const position = positions?.get(region.regionId.value);
        if (entries.length === 0 && !position) return;
        await this.options
          .apply(region.regionId, entries, position)
          .catch((err: unknown) =>
            this.options.logger.warn(
              { regionId: region.regionId.toString(), err },
              'follower could not apply its WAL tail',
            ),
          );
      }),
    );
    // With the positions read: where each follower stands now, so its leader's trims keep the rest.
    if (positions)
      await wal.reportFollowers(
        this.options.nodeId,
        followers.map((r) => ({ regionId: r.regionId, afterId: r.lastEntryId })),
      );
  }
}

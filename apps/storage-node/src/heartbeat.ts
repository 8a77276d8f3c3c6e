import { CF_DEFAULT, type KvEngine } from '@regionstore/engine';
import { encodeJobPayload, type JobPayload } from '@regionstore/protocol';
import { regionDataBounds } from '@regionstore/region-runner';
import type { Logger, TimeProvider } from '@regionstore/core';
import type { WorkerGroup } from '@regionstore/worker-group';
import type { Queue } from 'bullmq';

const ROLE = { Leader: 'leader', Follower: 'follower', DowngradingLeader: 'downgrading' } as const;

/** What the node tells the metasrv every `heartbeatInterval`. */
export async function buildHeartbeat(
  nodeId: string,
  address: string,
  group: WorkerGroup,
  engine: KvEngine,
  now: number,
): Promise<JobPayload<'heartbeat'>> {
  const regions = await Promise.all(
    group.regions().map(async (region) => {
      const bounds = regionDataBounds(region.range);
      return {
        regionId: region.regionId,
        role: ROLE[region.role],
        epoch: region.epoch,
        approximateSizeBytes: await engine
          .approximateSize(CF_DEFAULT, bounds.start, bounds.end)
          .catch(() => 0),
        writtenBytesSinceFlush: region.writtenBytes,
        lastEntryId: region.lastEntryId,
      };
    }),
  );
  return { nodeId, address, timestampMs: now, regions };
}

/** Sends heartbeats through the `metasrv` queue until stopped; a failed send is logged and retried next time. */
export class HeartbeatLoop {
  private controller: AbortController | undefined;

  constructor(
    private readonly queue: Queue,
    private readonly intervalMs: number,
    private readonly payload: () => Promise<JobPayload<'heartbeat'>>,
    private readonly time: TimeProvider,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.controller) return;
    const controller = new AbortController();
    this.controller = controller;
    void (async () => {
      while (!controller.signal.aborted) {
        try {
          const payload = await this.payload();
          await this.queue.add('heartbeat', encodeJobPayload('heartbeat', payload), {
            removeOnComplete: true,
            removeOnFail: 100,
          });
        } catch (err) {
          this.logger.warn({ err }, 'heartbeat failed');
        }
        await this.time.sleep(this.intervalMs, controller.signal).catch(() => undefined);
      }
    })();
  }

  stop(): void {
    this.controller?.abort();
    this.controller = undefined;
  }
}

import { CF_DEFAULT, type KvEngine } from '@regionstore/engine';
import { encodeJobPayload, type JobPayload, type LeaseGrant } from '@regionstore/protocol';
import { regionDataBounds } from '@regionstore/region-runner';
import { compareKeys, type KeyRange, type RegionId, type TimeProvider } from '@regionstore/core';
import type { Logger } from '@regionstore/runtime';
import type { WorkerGroup } from '@regionstore/worker-group';
import type { Queue } from 'bullmq';
import type { LoadSplitDetector } from './load-split-detector';

const ROLE = { Leader: 'leader', Follower: 'follower', DowngradingLeader: 'downgrading' } as const;

/** What the node tells the metasrv every `heartbeatInterval`. */
export async function buildHeartbeat(
  nodeId: string,
  address: string,
  group: WorkerGroup,
  engine: KvEngine,
  now: number,
  seq?: string,
  clusterId?: string,
  load?: LoadSplitDetector,
): Promise<JobPayload<'heartbeat'>> {
  const perByte = await entriesPerByte(engine).catch(() => undefined);
  const regions = await Promise.all(
    group.regions().map(async (region) => {
      const bounds = regionDataBounds(region.range);
      const loadSplitKey = region.role === 'Leader' ? loadSplitKeyOf(region, load) : undefined;
      const bytes = await engine.approximateSize(CF_DEFAULT, bounds.start, bounds.end).catch(() => 0);
      return {
        regionId: region.regionId,
        role: ROLE[region.role],
        epoch: region.epoch,
        approximateSizeBytes: bytes,
        ...(perByte === undefined ? {} : { approximateKeys: Math.round(bytes * perByte) }),
        writtenBytesSinceFlush: region.writtenBytes,
        lastEntryId: region.lastEntryId,
        ...(loadSplitKey ? { loadSplitKey } : {}),
      };
    }),
  );
  return {
    nodeId,
    address,
    timestampMs: now,
    regions,
    opening: group.openingRegionIds(),
    ...(seq ? { seq } : {}),
    ...(clusterId ? { clusterId } : {}),
  };
}

/**
 * The node's MVCC versions per byte of its data CF: RocksDB's entry estimate over its size estimate,
 * both of memtables and files. A region's versions are its bytes times this (TiKV counts them from
 * per-file range properties, which rocksdb-native does not expose): close where the node's entries
 * are of like size; a region of entries much smaller than its node's average is undercounted, one of
 * much larger entries overcounted.
 */
async function entriesPerByte(engine: KvEngine): Promise<number> {
  const [entries, bytes] = await Promise.all([
    engine.estimateNumKeys(CF_DEFAULT),
    engine.approximateSize(CF_DEFAULT, Buffer.alloc(0), Buffer.alloc(0)),
  ]);
  return bytes > 0 ? entries / bytes : 0;
}

/**
 * The split key load-based split proposes for a region, if it lies strictly inside the region's range
 * now; one that does not was chosen before the range changed, and the region's count starts over.
 */
function loadSplitKeyOf(
  region: { regionId: RegionId; range: KeyRange; epoch: { version: number } },
  load: LoadSplitDetector | undefined,
): Buffer | undefined {
  const key = load?.proposal(region.regionId, region.epoch.version);
  if (!key) return undefined;
  const { start, end } = region.range;
  if (compareKeys(key, start) > 0 && (end.length === 0 || compareKeys(key, end) < 0)) return key;
  load!.reset(region.regionId);
  return undefined;
}

/** How the loop learns the metasrv's answer to its heartbeats (see RegionLeases). */
export interface LeaseRenewal {
  /** The node's latest grant, or undefined when there is none. */
  read(): Promise<LeaseGrant | undefined>;
  accept(grant: LeaseGrant): void;
  /** How long after a heartbeat the grant is read (the metasrv answers within milliseconds). */
  delayMs: number;
}

/**
 * Sends heartbeats through the `metasrv` queue until closed, and renews the node's region leases
 * from the grants that answer them; a failed send or read is logged and retried next time.
 */
export class HeartbeatLoop {
  private controller: AbortController | undefined;
  /** Aborted to cut the wait for the next heartbeat short (see beatSoon). */
  private wake = new AbortController();

  constructor(
    private readonly queue: Queue,
    private readonly intervalMs: number,
    private readonly payload: () => Promise<JobPayload<'heartbeat'>>,
    private readonly time: TimeProvider,
    private readonly logger: Logger,
    private readonly leases?: LeaseRenewal,
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
        const delayMs = Math.min(this.leases?.delayMs ?? 0, this.intervalMs);
        if (this.leases) {
          await this.sleep(delayMs, controller.signal);
          await this.renewLeases(this.leases);
        }
        if (!this.wake.signal.aborted)
          await this.sleep(this.intervalMs - delayMs, AbortSignal.any([controller.signal, this.wake.signal]));
        this.wake = new AbortController();
      }
    })();
  }

  /**
   * Sends the next heartbeat `ms` from now instead of at the interval: a region that just started
   * leading here (a promotion, a failover) gets its lease with that heartbeat's answer, once the
   * metasrv has routed the region here, rather than up to an interval later.
   */
  beatSoon(ms: number): void {
    const wake = this.wake;
    void this.time.sleep(ms).then(() => wake.abort());
  }

  private async renewLeases(leases: LeaseRenewal): Promise<void> {
    try {
      const grant = await leases.read();
      if (grant) leases.accept(grant);
    } catch (err) {
      this.logger.warn({ err }, 'reading the lease grant failed');
    }
  }

  private async sleep(ms: number, stop: AbortSignal): Promise<void> {
    await this.time.sleep(ms, stop).catch(() => undefined);
  }

  /** Stops sending and closes the queue (not the connection it was given). */
  async close(): Promise<void> {
    this.controller?.abort();
    this.controller = undefined;
    await this.queue.close().catch(() => undefined);
  }
}

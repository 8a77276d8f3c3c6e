import {
  TsTooOldError,
  ZERO_TIMESTAMP,
  composeTimestamp,
  physicalOf,
  type Timestamp,
} from '@regionstore/core';
import type { Logger, RedisClient } from '@regionstore/runtime';
import { NodeClocks } from './node-clocks';
import {
  gcSafePointKey,
  metasrvLeaderKey,
  readGcSafePoint,
  serviceSafePointsKey,
} from '@regionstore/protocol';

/** A node's clock further behind than this is logged when it holds the safepoint back. */
const CLOCK_BEHIND_WARN_MS = 10_000;

/** Timestamps as Redis keeps them: fixed-width decimals, so Lua's string order is their order. */
const stored = (ts: Timestamp) => ts.toString().padStart(20, '0');
const parsed = (text: string | null | undefined): Timestamp => (text ? BigInt(text) : ZERO_TIMESTAMP);

// Atomic in Redis, so a service safepoint registered at the same moment is either seen here or
// refused there: the safepoint never passes one that was accepted. Only the metasrv leader moves it.
const ADVANCE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
local target = ARGV[2]
local services = redis.call('HGETALL', KEYS[3])
for i = 1, #services, 2 do
  local ts, expires = string.match(services[i + 1], '^(%d+):(%d+)$')
  if ts == nil or tonumber(expires) < tonumber(ARGV[3]) then
    redis.call('HDEL', KEYS[3], services[i])
  elseif ts < target then
    target = ts
  end
end
local current = redis.call('GET', KEYS[2]) or ''
if target > current then
  redis.call('SET', KEYS[2], target)
  return target
end
return current
`;

const REGISTER = `
local current = redis.call('GET', KEYS[1]) or ''
if ARGV[2] < current then return current end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ':' .. ARGV[3])
return ''
`;

export interface GcConfig {
  /** How long MVCC history is kept: the safepoint trails the clock by this much (TiKV gc_life_time). */
  lifeTimeMs: number;
  /** How often the leader moves the safepoint. */
  runIntervalMs: number;
}

export interface ServiceSafePoint {
  serviceId: string;
  safePoint: Timestamp;
  expiresAtMs: number;
}

export interface GcStatus {
  safePoint: Timestamp;
  /** Milliseconds since the safepoint's physical time (undefined: none yet). */
  ageMs: number | undefined;
  lifeTimeMs: number;
  services: ServiceSafePoint[];
}

/** A service safepoint held until `release`, renewed meanwhile every third of its TTL. */
export interface HeldSafePoint {
  /**
   * Fails (`TsTooOld`) when the GC safepoint has passed the held one: the hold lapsed at some point
   * (renewals failed, the metasrv paused past the TTL) and versions it protected may be collected.
   * The safepoint only moves forward, so one check after the last read covers every read before it.
   */
  check(): Promise<void>;
  release(): Promise<void>;
}

/**
 * The cluster GC safepoint (TiKV's GC safepoint, PD's service safepoints), kept in Redis: the metasrv
 * leader moves it to now − `lifeTimeMs` every `runIntervalMs` (now on the earliest clock of itself and
 * the nodes heard from lately), never back, never past the smallest unexpired service safepoint.
 * Services (every backup) hold one for as long as they read old versions; one asked for below the
 * current safepoint is refused with `TsTooOld`, its versions may be gone.
 * Nodes hear the safepoint in their heartbeat replies and collect below it.
 */
export class GcSafePoints {
  private known: Timestamp = ZERO_TIMESTAMP;
  private timer: NodeJS.Timeout | undefined;
  /** The nodes' clocks as their heartbeats tell them: the safepoint trails the earliest. */
  readonly nodeClocks: NodeClocks;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly instanceId: string,
    readonly config: GcConfig,
    private readonly logger: Logger,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.nodeClocks = new NodeClocks(now);
  }

  /** The safepoint as this instance last read or moved it (what heartbeat replies carry). */
  get current(): Timestamp {
    return this.known;
  }

  /**
   * Moves the safepoint (on the leader only: elsewhere it just reads it), once a node was heard from
   * lately: until then (a leader just elected, nodes silent) it only reads it.
   */
  async advance(): Promise<Timestamp> {
    const earliest = this.nodeClocks.earliest();
    if (!earliest) return this.load();
    const behindMs = this.now() - earliest.nowMs;
    if (earliest.nodeId && behindMs > CLOCK_BEHIND_WARN_MS)
      this.logger.warn(
        { nodeId: earliest.nodeId, behindMs },
        "a node's clock runs behind this metasrv's: the GC safepoint trails it",
      );
    const candidate = composeTimestamp(Math.max(0, earliest.nowMs - this.config.lifeTimeMs));
    const result = (await this.redis.eval(
      ADVANCE,
      3,
      metasrvLeaderKey(this.prefix),
      gcSafePointKey(this.prefix),
      serviceSafePointsKey(this.prefix),
      this.instanceId,
      stored(candidate),
      String(this.now()),
    )) as string | null;
    const value = result === null ? await readGcSafePoint(this.redis, this.prefix) : parsed(result);
    if (value > this.known) this.known = value;
    return this.known;
  }

  /**
   * Reads the safepoint as Redis holds it. A newly elected leader does before its first grant: a grant
   * without one leaves a node that just started admitting reads at any ts.
   */
  async load(): Promise<Timestamp> {
    const value = await readGcSafePoint(this.redis, this.prefix);
    if (value > this.known) this.known = value;
    return this.known;
  }

  /** Moves the safepoint now and every `runIntervalMs` until `stop` (the leader's loop). */
  start(): void {
    if (this.timer) return;
    const tick = () =>
      void this.advance().catch((err: unknown) =>
        this.logger.warn({ err }, 'moving the GC safepoint failed'),
      );
    tick();
    this.timer = setInterval(tick, this.config.runIntervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Registers (or moves) a service safepoint for `ttlMs`; `TsTooOld` when it is below the current one. */
  async register(serviceId: string, safePoint: Timestamp, ttlMs: number): Promise<void> {
    const refused = (await this.redis.eval(
      REGISTER,
      2,
      gcSafePointKey(this.prefix),
      serviceSafePointsKey(this.prefix),
      serviceId,
      stored(safePoint),
      String(this.now() + ttlMs),
    )) as string;
    if (refused !== '') {
      throw new TsTooOldError(
        `${serviceId} needs versions from ts ${safePoint}, below the GC safepoint ${BigInt(refused)}: they may have been collected`,
        { serviceId, ts: safePoint.toString(), safePoint: BigInt(refused).toString() },
      );
    }
  }

  async unregister(serviceId: string): Promise<void> {
    await this.redis.hdel(serviceSafePointsKey(this.prefix), serviceId);
  }

  /** Holds a service safepoint until released, renewing it every third of `ttlMs` meanwhile. */
  async hold(serviceId: string, safePoint: Timestamp, ttlMs: number): Promise<HeldSafePoint> {
    await this.register(serviceId, safePoint, ttlMs);
    const renew = setInterval(() => {
      this.register(serviceId, safePoint, ttlMs).catch((err: unknown) =>
        this.logger.warn({ err, serviceId }, 'renewing a service safepoint failed'),
      );
    }, ttlMs / 3);
    renew.unref();
    return {
      check: () => this.register(serviceId, safePoint, ttlMs),
      release: async () => {
        clearInterval(renew);
        await this.unregister(serviceId);
      },
    };
  }

  async status(): Promise<GcStatus> {
    const [safePointText, services] = await Promise.all([
      this.redis.get(gcSafePointKey(this.prefix)),
      this.redis.hgetall(serviceSafePointsKey(this.prefix)),
    ]);
    const safePoint = parsed(safePointText);
    const now = this.now();
    return {
      safePoint,
      ageMs: safePoint === ZERO_TIMESTAMP ? undefined : now - physicalOf(safePoint),
      lifeTimeMs: this.config.lifeTimeMs,
      services: Object.entries(services)
        .map(([serviceId, value]) => {
          const [ts, expires] = value.split(':');
          return { serviceId, safePoint: parsed(ts), expiresAtMs: Number(expires) };
        })
        .filter((s) => s.expiresAtMs >= now)
        .sort((a, b) => (a.safePoint < b.safePoint ? -1 : a.safePoint > b.safePoint ? 1 : 0)),
    };
  }
}

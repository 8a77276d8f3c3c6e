import type { Logger, RedisClient } from '@regionstore/runtime';

const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`;
// The key may still name this instance after it stepped down without releasing (Redis was unreachable,
// or starting the leader work failed): no other instance can hold it then, so it takes the lease again
// rather than waiting out the TTL while every reader of the key believes it leads.
const CAMPAIGN = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/**
 * Leader election on Redis: a key set with NX and a TTL, renewed by its holder every third of the
 * lease. A failed or late renewal means leadership is lost *now*; the callbacks start and stop the
 * leader-only work.
 */
export class LeaderLease {
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
  private stopped = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly key: string,
    readonly instanceId: string,
    private readonly leaseMs: number,
    private readonly callbacks: { onElected(): Promise<void>; onLost(): Promise<void> },
    private readonly logger: Logger,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.stopped = false;
    void this.tick();
  }

  private schedule(): void {
    if (!this.stopped) this.timer = setTimeout(() => void this.tick(), Math.floor(this.leaseMs / 3));
  }

  private async tick(): Promise<void> {
    try {
      if (this.leading) {
        const renewed = Number(await this.redis.eval(RENEW, 1, this.key, this.instanceId, this.leaseMs));
        if (renewed !== 1) await this.lose('lease taken or expired');
      } else if (Number(await this.redis.eval(CAMPAIGN, 1, this.key, this.instanceId, this.leaseMs)) === 1) {
        this.leading = true;
        this.logger.info({ instance: this.instanceId }, 'became metasrv leader');
        await this.callbacks
          .onElected()
          .catch((err: unknown) => this.lose(`starting leader work failed: ${(err as Error).message}`));
      }
    } catch (err) {
      if (this.leading) await this.lose(`renewal failed: ${(err as Error).message}`);
      else this.logger.debug({ err }, 'leader campaign failed');
    }
    this.schedule();
  }

  private async lose(reason: string): Promise<void> {
    this.leading = false;
    this.logger.warn({ instance: this.instanceId, reason }, 'lost metasrv leadership');
    await this.callbacks
      .onLost()
      .catch((err: unknown) => this.logger.error({ err }, 'stopping leader work failed'));
  }

  /** Stops campaigning; a leader gives its lease up so a standby takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.leading) {
      this.leading = false;
      await this.callbacks.onLost().catch(() => undefined);
      await this.redis.eval(RELEASE, 1, this.key, this.instanceId).catch(() => undefined);
    }
  }
}

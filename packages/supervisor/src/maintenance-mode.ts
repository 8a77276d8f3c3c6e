import type { RedisClient } from '@regionstore/runtime';
import { clusterKey } from '@regionstore/protocol';

/**
 * Cluster-wide maintenance mode, kept in Redis so every metasrv (leader or standby) sees the same
 * flag. While it is on, the supervisor detects failures but moves nothing.
 */
export class MaintenanceModeManager {
  private readonly key: string;

  constructor(
    private readonly redis: RedisClient,
    keyPrefix: string,
  ) {
    this.key = clusterKey(keyPrefix, 'maintenance');
  }

  async enable(): Promise<void> {
    await this.redis.set(this.key, '1');
  }

  async disable(): Promise<void> {
    await this.redis.del(this.key);
  }

  async isEnabled(): Promise<boolean> {
    return (await this.redis.get(this.key)) === '1';
  }
}

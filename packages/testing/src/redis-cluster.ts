import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Redis } from '@regionstore/runtime';
import { PrivateRedisServer, askRedis } from './redis-server';

const run = promisify(execFile);

/** A slot range of CLUSTER SLOTS: `[start, end, [host, port, id], ...replicas]`. */
type SlotRange = [number, number, [string, number, string], ...Array<[string, number, string]>];

/**
 * A real Redis Cluster of the test's own: `masters` masters with `replicasPerMaster` replicas each,
 * `redis-server --cluster-enabled yes` processes joined by `redis-cli --cluster create`. Every server
 * keeps an AOF (fsync every second); a master killed is replaced by its replica after
 * `nodeTimeoutMs`.
 */
export class PrivateRedisCluster {
  private constructor(readonly servers: PrivateRedisServer[]) {}

  static async start(
    dir: string,
    options: { masters?: number; replicasPerMaster?: number; nodeTimeoutMs?: number } = {},
  ): Promise<PrivateRedisCluster> {
    const masters = options.masters ?? 3;
    const replicas = options.replicasPerMaster ?? 1;
    const servers: PrivateRedisServer[] = [];
    try {
      for (let i = 0; i < masters * (replicas + 1); i++) {
        servers.push(
          await PrivateRedisServer.start(join(dir, `redis-${i}`), [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            String(options.nodeTimeoutMs ?? 1000),
            '--appendfsync',
            'everysec',
          ]),
        );
      }
      await run(
        'redis-cli',
        [
          '--cluster',
          'create',
          ...servers.map((s) => `127.0.0.1:${s.port}`),
          '--cluster-replicas',
          String(replicas),
          '--cluster-yes',
        ],
        { timeout: 60_000 },
      );
      const cluster = new PrivateRedisCluster(servers);
      await cluster.waitUntilHealthy(masters, replicas);
      return cluster;
    } catch (err) {
      for (const server of servers) await server.kill();
      throw err;
    }
  }

  /** Seed URLs for `redis.cluster`. */
  get seeds(): string[] {
    return this.servers.map((s) => s.url);
  }

  /** Runs `fn` on the first server that answers (some may be killed). */
  private async askAny<T>(fn: (redis: Redis) => Promise<T>): Promise<T> {
    for (const server of this.servers) {
      try {
        return await askRedis(server.url, fn);
      } catch {
        // that server is down; ask another
      }
    }
    throw new Error('no server of the Redis Cluster answers');
  }

  /** The slot map as one live server reports it. */
  slots(): Promise<SlotRange[]> {
    return this.askAny(async (redis) => (await redis.call('CLUSTER', 'SLOTS')) as SlotRange[]);
  }

  /** The hash slot of `key`. */
  slotOf(key: string): Promise<number> {
    return this.askAny(async (redis) => Number(await redis.call('CLUSTER', 'KEYSLOT', key)));
  }

  /** The server that is master of `slot` now. */
  async masterOf(slot: number): Promise<PrivateRedisServer> {
    const range = (await this.slots()).find(([start, end]) => slot >= start && slot <= end);
    const server = this.servers.find((s) => s.port === range?.[2][1]);
    if (!server) throw new Error(`no master serves slot ${slot}`);
    return server;
  }

  /**
   * Waits until every slot is served, the cluster state is ok on every live server, and each master has
   * `replicas` replicas in sync (a promoted replica has none until its old master comes back).
   */
  async waitUntilHealthy(masters: number, replicas: number, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      try {
        const slots = await this.slots();
        const covered = slots.reduce((n, [start, end]) => n + end - start + 1, 0);
        const owners = new Set(slots.map((s) => s[2][1]));
        let ok = covered === 16384 && owners.size === masters;
        for (const port of owners) {
          const server = this.servers.find((s) => s.port === port)!;
          const [info, replication] = await askRedis(server.url, async (redis) => [
            String(await redis.call('CLUSTER', 'INFO')),
            await redis.info('replication'),
          ]);
          const synced = (replication.match(/^slave\d+:.*state=online/gm) ?? []).length;
          ok &&= info.includes('cluster_state:ok') && synced >= replicas;
        }
        if (ok) return;
        last = `${covered} slots covered by ${owners.size} masters`;
      } catch (err) {
        last = (err as Error).message;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`Redis Cluster not healthy after ${timeoutMs} ms (${last})`);
  }

  async stop(): Promise<void> {
    for (const server of this.servers) await server.kill();
  }
}

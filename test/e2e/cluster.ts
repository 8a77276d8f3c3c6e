import type { ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { useRedisNamespace, useTempDir } from '@regionstore/testing';

// The launcher is plain CommonJS shared with `npm start` and the benchmarks.
const { startCluster, freePort, waitFor } = createRequire(__filename)('../../tools/cluster.cjs') as {
  startCluster: (options: object) => Promise<Cluster>;
  freePort: () => Promise<number>;
  /** Polls `check` every 200 ms until it returns something truthy; throws after `timeoutMs`. */
  waitFor: <T>(check: () => T | Promise<T>, what: string, timeoutMs: number) => Promise<T>;
};
export { freePort, waitFor };

/** Keys whose first bytes spread over the key space, so every region gets some. */
export const spread = (label: string, n: number) =>
  Array.from({ length: n }, (_, i) =>
    Buffer.concat([Buffer.from([Math.floor((256 * i) / n)]), Buffer.from(`${label}-${i}`)]),
  );

export interface RouteJson {
  regionId: string;
  leader: string;
  address: string;
  epoch: { version: number; confVer: number };
  followers: Array<{ id: string; address: string }>;
}

export interface Cluster {
  metasrvUrl: string;
  dir: string;
  /** The cluster's Redis key prefix (also its BullMQ prefix). */
  prefix: string;
  routes(): Promise<RouteJson[]>;
  kill(name: string, signal?: NodeJS.Signals): Promise<void>;
  signal(name: string, signal: NodeJS.Signals): void;
  restart(signal?: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
  startNode(i: number): unknown;
  startMetasrv(name: string, port: number): unknown;
  waitFor<T>(check: () => Promise<T>, what: string, timeoutMs: number): Promise<T>;
  processes: Map<string, ChildProcess>;
}

/** A real cluster (metasrv + storage node processes) per test file, under its own Redis prefix. */
export function useCluster(label: string) {
  const clusters: Cluster[] = [];
  // Registered first so it runs first: the processes stop before their directory and keys are removed.
  afterAll(async () => {
    for (const cluster of clusters) await cluster.stop();
  });
  const dir = useTempDir(label);
  const ns = useRedisNamespace(label);
  return {
    /** A fresh directory outside every cluster's (a backup target that survives a wipe). */
    scratch: (name: string) => dir.sub(name),
    async start(
      options: {
        nodes?: number;
        initialRegions?: number;
        redisUrl?: string;
        /** Seed URLs of a Redis Cluster, used instead of `redisUrl`. */
        redisCluster?: string[];
        /** Sentinels watching the primary to use instead of `redisUrl`. */
        redisSentinels?: { sentinels: string[]; name: string };
        token?: string;
        durability?: 'fsync' | 'everysec' | 'replicas' | 'unsafe';
        /** Extra environment (config) of the metasrv and of every node. */
        metasrvEnv?: Record<string, string>;
        nodeEnv?: Record<string, string>;
      } = {},
    ): Promise<Cluster> {
      const cluster = await startCluster({
        // E2E_KEEP_DIR keeps the processes' data and logs somewhere you can look at.
        dir: process.env.E2E_KEEP_DIR
          ? join(process.env.E2E_KEEP_DIR, `cluster-${clusters.length}`)
          : dir.sub('cluster'),
        redisUrl: options.redisUrl ?? ns.url,
        prefix: `${ns.prefix}-c${clusters.length}`, // one namespace per cluster, all under the file's
        nodes: options.nodes ?? 3,
        initialRegions: options.initialRegions ?? 8,
        metasrvPort: await freePort(),
        logLevel: process.env.E2E_LOG_LEVEL ?? 'warn',
        ...(options.token ? { token: options.token } : {}),
        ...(options.redisCluster ? { redisCluster: options.redisCluster } : {}),
        ...(options.redisSentinels ? { redisSentinels: options.redisSentinels } : {}),
        ...(options.metasrvEnv ? { metasrvEnv: options.metasrvEnv } : {}),
        ...(options.nodeEnv ? { nodeEnv: options.nodeEnv } : {}),
        // Backups go to the file's own directory (its scratch dirs are in it), or nowhere real.
        allowedStorage: [`local://${dir.path}`, 'noop://', 'memory://'],
        // The shared Redis is whatever the developer runs (Debian's default has no AOF); tests that
        // depend on Redis keeping its data start a redis-server of their own and say which mode.
        durability: options.durability ?? 'unsafe',
      });
      clusters.push(cluster);
      return cluster;
    },
  };
}

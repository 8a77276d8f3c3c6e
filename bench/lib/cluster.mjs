// Helpers for the benchmarks that run a local cluster (tools/cluster.cjs).
import { createRequire } from 'node:module';
import { join } from 'node:path';

export const { freePort, dropKeys } = createRequire(import.meta.url)('../../tools/cluster.cjs');

/** POSTs JSON to the metasrv's admin API and returns the parsed answer; non-2xx throws. */
export async function adminPost(metasrvUrl, path, body) {
  const response = await fetch(`${metasrvUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = await response.json();
  if (!response.ok) throw new Error(`${path}: ${JSON.stringify(json)}`);
  return json;
}

/** GETs JSON (10 s at most); non-2xx throws. */
export async function getJson(url) {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  return response.json();
}

/** CPU seconds the alive storage nodes used so far (prom-client's process_cpu_seconds_total of each). */
export async function nodeCpuSeconds(metasrvUrl) {
  const { nodes } = await getJson(`${metasrvUrl}/admin/status`);
  let total = 0;
  for (const node of nodes.filter((n) => n.state === 'alive')) {
    const text = await (await fetch(`${node.address}/metrics`)).text();
    total += Number(/^process_cpu_seconds_total(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1] ?? NaN);
  }
  return total;
}

/** Waits (2 min at most) until every region of `cluster` (a startCluster result) has a follower. */
export async function waitForFollowers(cluster) {
  await cluster.waitFor(
    async () => (await cluster.routes()).every((r) => r.followers.length > 0),
    'every region to have a follower',
    120_000,
  );
}

/**
 * Runs `fn({cluster, client, redis})` on a fresh cluster as `npm start` runs it (metasrv + `nodes`
 * storage nodes, default WAL durability `everysec`) on a private Redis with AOF `appendfsync everysec`
 * under `dir`; `options` go to startCluster. Stops everything afterwards, whatever `fn` did.
 */
export async function withPrivateCluster(dir, options, fn) {
  const { startCluster } = createRequire(import.meta.url)('../../tools/cluster.cjs');
  const { RegionStoreClient } = await import('@regionstore/client');
  const { createRedis, waitForRedis } = await import('@regionstore/runtime');
  const { PrivateRedisServer } = await import('@regionstore/testing');
  const server = await PrivateRedisServer.start(join(dir, 'redis'), ['--appendfsync', 'everysec']);
  const redis = createRedis(server.url, 'client');
  let cluster;
  let client;
  try {
    await waitForRedis(redis);
    cluster = await startCluster({
      dir: join(dir, 'cluster'),
      redisUrl: server.url,
      prefix: 'regionstore-local', // npm start's key prefix (this Redis is the run's own)
      metasrvPort: await freePort(),
      logLevel: process.env.REGIONSTORE_LOG_LEVEL ?? 'warn',
      ...options,
    });
    client = new RegionStoreClient({ metasrv: cluster.metasrvUrl, retryTimeoutMs: 60_000 });
    return await fn({ cluster, client, redis });
  } finally {
    await client?.close().catch(() => undefined);
    await cluster?.stop().catch((err) => console.error(`stopping the cluster: ${err.message}`));
    redis.disconnect();
    await server.kill('SIGTERM').catch(() => undefined);
  }
}

// Helpers for the benchmarks that run a local cluster (tools/cluster.cjs).
import { createRequire } from 'node:module';

export const { freePort } = createRequire(import.meta.url)('../../tools/cluster.cjs');

/** Deletes every Redis key of `prefix` (a benchmark's namespace: `prefix…` and `{prefix}…`). */
export async function dropKeys(redis, prefix) {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `*${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
}

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

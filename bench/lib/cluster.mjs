// Helpers for the benchmarks that run a local cluster (tools/cluster.cjs).
import { createRequire } from 'node:module';

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

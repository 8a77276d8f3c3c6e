import { RegionStoreClient } from '@regionstore/client';
import type { Cluster } from './cluster';

/** Unique keys spread over every region: the first byte walks the key space. */
export const loadKey = (i: number) => Buffer.from([(i * 37) % 256, ...Buffer.from(`load-${i}`)]);
const loadValue = (i: number) => `v${i}`;

/**
 * `writers` loops putting unique keys (from id `from` on) until stopped; remembers what was
 * acknowledged, the only writes a durability check may hold the cluster to.
 */
export function writeLoad(cluster: Cluster, writers: number, from = 0) {
  const acked = new Map<number, string>();
  let next = from;
  let writing = true;
  const loops = Array.from({ length: writers }, async () => {
    const client = new RegionStoreClient({ metasrv: cluster.metasrvUrl, retryTimeoutMs: 60_000 });
    while (writing) {
      const i = next++;
      try {
        await client.put(loadKey(i), Buffer.from(loadValue(i)));
        acked.set(i, loadValue(i));
      } catch {
        // not acknowledged: nothing is promised about it
      }
    }
  });
  return {
    acked,
    async stop(): Promise<Map<number, string>> {
      writing = false;
      await Promise.all(loops);
      return acked;
    },
  };
}

/** The ids whose key does not read back as `expected` says (an empty list: nothing lost). */
export async function missing(cluster: Cluster, expected: Map<number, string>): Promise<number[]> {
  const reader = new RegionStoreClient({ metasrv: cluster.metasrvUrl, retryTimeoutMs: 60_000 });
  const ids = [...expected.keys()];
  const values = await reader.batchGet(ids.map(loadKey));
  return ids.filter((id, at) => values[at]?.toString() !== expected.get(id));
}

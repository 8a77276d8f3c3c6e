import { isRegionStoreError } from '@regionstore/core';
import type { RegionRoute } from '@regionstore/supervisor';
import type { ClusterStore } from './cluster-store';

/** Region errors after which the job is worth sending again to whoever leads the region now. */
const MOVED = ['NotLeader', 'RegionNotFound', 'EpochNotMatch', 'ServerIsBusy', 'Timeout'] as const;

/**
 * Runs `job` once per region on the node that leads it. When the region moved in the meantime (a
 * failover, a migration), the route is read again and the job goes to the new leader, up to
 * `attempts` times. `onDone` is called as each region finishes (progress).
 */
export async function forEachRegion<T>(
  store: Pick<ClusterStore, 'get'>,
  routes: RegionRoute[],
  job: (route: RegionRoute, attempt: number) => Promise<T>,
  onDone: () => Promise<void> | void,
  options: { attempts?: number; retryDelayMs?: number } = {},
): Promise<T[]> {
  const attempts = options.attempts ?? 10;
  const retryDelayMs = options.retryDelayMs ?? 500;
  return Promise.all(
    routes.map(async (first) => {
      let route = first;
      for (let attempt = 1; ; attempt++) {
        try {
          const result = await job(route, attempt);
          await onDone();
          return result;
        } catch (err) {
          const moved = MOVED.some((code) => isRegionStoreError(err, code));
          if (!moved || attempt >= attempts) throw err;
          await new Promise((r) => setTimeout(r, retryDelayMs));
          route = (await store.get(route.regionId)) ?? route;
        }
      }
    }),
  );
}

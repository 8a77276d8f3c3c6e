import {
  NotLeaderError,
  intersectRanges,
  isRegionStoreError,
  subtractRanges,
  type KeyRange,
} from '@regionstore/core';
import type { RegionRoute } from '@regionstore/supervisor';
import type { ClusterStore } from './cluster-store';

/**
 * Region errors after which the job is worth sending again to whoever leads the region now (`Locked`:
 * a write in flight at the job's ts, over within moments).
 */
const MOVED = ['NotLeader', 'RegionNotFound', 'EpochNotMatch', 'ServerIsBusy', 'Timeout', 'Locked'] as const;

/**
 * Runs `job` over every part of `range`, each part on the leader of the region holding it, as the
 * routes say when the part starts. A part whose region moved is sent again to whoever holds it now;
 * the keys of a part the job did not cover (its `covered` leaves them out: a split handed them to a
 * region led elsewhere) are resolved against the routes again, so every key of `range` is covered
 * once. `onProgress(done, total)` counts parts, the total growing
 * as parts are split. Up to `attempts` rounds per key.
 */
export async function forEachRange<T>(
  store: Pick<ClusterStore, 'routes'>,
  range: KeyRange,
  job: (route: RegionRoute, part: KeyRange, attempt: number) => Promise<{ value: T; covered: KeyRange[] }>,
  onProgress: (done: number, total: number) => Promise<void> | void,
  options: { attempts?: number; retryDelayMs?: number } = {},
): Promise<T[]> {
  const attempts = options.attempts ?? 10;
  const retryDelayMs = options.retryDelayMs ?? 500;
  let [done, total] = [0, 0];
  const parts = async (of: KeyRange) =>
    (await store.routes()).flatMap((route) => {
      const part = intersectRanges(route.range, of);
      return part ? [{ route, part }] : [];
    });
  const again = async (of: KeyRange, attempt: number, cause: unknown): Promise<T[]> => {
    if (attempt >= attempts) throw cause;
    await new Promise((r) => setTimeout(r, retryDelayMs));
    return runAll(await parts(of), attempt + 1);
  };
  const runOne = async (route: RegionRoute, part: KeyRange, attempt: number): Promise<T[]> => {
    let result: { value: T; covered: KeyRange[] };
    try {
      result = await job(route, part, attempt);
    } catch (err) {
      if (!MOVED.some((code) => isRegionStoreError(err, code))) throw err;
      total -= 1; // the parts it is resolved into count instead
      return again(part, attempt, err);
    }
    const gaps = subtractRanges(part, result.covered);
    const rest = await Promise.all(
      gaps.map((gap) =>
        again(
          gap,
          attempt,
          new NotLeaderError(`keys from ${gap.start.toString('hex')} were in no region any more`),
        ),
      ),
    );
    done += 1;
    await onProgress(done, total);
    return [result.value, ...rest.flat()];
  };
  const runAll = async (list: Array<{ route: RegionRoute; part: KeyRange }>, attempt: number) => {
    total += list.length;
    return (await Promise.all(list.map(({ route, part }) => runOne(route, part, attempt)))).flat();
  };
  return runAll(await parts(range), 1);
}

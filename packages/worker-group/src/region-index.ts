import type { RegionId } from '@regionstore/core';

/** The worker a region belongs to (GreptimeDB's formula): table and region number, each mod n. */
export function regionIdToIndex(regionId: RegionId, numWorkers: number): number {
  return ((regionId.tableId % numWorkers) + (regionId.regionNumber % numWorkers)) % numWorkers;
}

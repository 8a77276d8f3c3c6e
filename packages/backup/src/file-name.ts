import { createHash } from 'node:crypto';
import type { RegionInfo } from './region-info';

export function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * `storeId_regionId_epochVersion[_startKeyHash_timestampMs]`, as TiKV names backup files: the hash of
 * the range's start key keeps names short and apart for several ranges of one region, the time keeps a
 * retried request from overwriting the earlier files.
 */
export function backupFileName(
  storeId: string | number,
  region: Pick<RegionInfo, 'regionId' | 'epochVersion'>,
  startKeyHash?: string,
  nowMs: number = Date.now(),
): string {
  const base = `${storeId}_${region.regionId.value}_${region.epochVersion}`;
  return startKeyHash === undefined ? base : `${base}_${startKeyHash}_${nowMs}`;
}

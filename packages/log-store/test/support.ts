export { RegionId, isRegionStoreError } from '@regionstore/core';
export { createMetricsRegistry } from '@regionstore/runtime';
import { createMetricsRegistry } from '@regionstore/runtime';

export const createRegistry = () => createMetricsRegistry({ defaultMetrics: false });

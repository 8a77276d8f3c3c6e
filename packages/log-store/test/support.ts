export { RegionId, createMetricsRegistry, isRegionStoreError } from '@regionstore/core';
import { createMetricsRegistry } from '@regionstore/core';

export const createRegistry = () => createMetricsRegistry({ defaultMetrics: false });

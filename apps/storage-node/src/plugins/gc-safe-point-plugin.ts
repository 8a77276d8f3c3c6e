import { TOKENS, createRedis, redisTarget, waitForRedis, type Plugin } from '@regionstore/runtime';
import { readGcSafePoint } from '@regionstore/protocol';
import { WORKER_GROUP, type WorkerGroup } from '@regionstore/worker-group';
import type { NodePluginConfig } from './tokens';

/**
 * Takes the cluster GC safepoint from Redis once the worker group runs, before the data API and the
 * task worker start. The safepoint otherwise arrives with the node's first lease grant; until then a
 * node that just started would admit a follower read or a backup at a ts whose versions GC has
 * already collected, and answer it wrongly instead of with `TsTooOld`.
 */
export const gcSafePointPlugin: Plugin<NodePluginConfig> = {
  name: 'gc-safe-point',
  register() {},
  async start(container) {
    const config = container.resolve<NodePluginConfig>(TOKENS.Config);
    const redis = createRedis(redisTarget(config), 'client');
    try {
      await waitForRedis(redis, 10_000);
      const safePoint = await readGcSafePoint(redis, config.keyPrefix);
      container.resolve<WorkerGroup>(WORKER_GROUP).advanceGcSafePoint(safePoint);
    } finally {
      redis.disconnect();
    }
  },
};

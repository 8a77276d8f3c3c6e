import 'reflect-metadata';
import type { Plugin } from '@regionstore/runtime';
import type { Queue } from 'bullmq';
import { bullBoardRoutes } from '../bull-board-routes';
import type { NodeTaskClient } from '../node-client';
import { METASRV, type MetasrvPluginConfig } from './tokens';

/** Bull Board at `/admin/queues` over the heartbeat queue and every node queue opened so far. */
export const bullBoardPlugin: Plugin<MetasrvPluginConfig> = {
  name: 'bull-board',
  register(container, config) {
    container.register(METASRV.AdminRoutes, {
      useFactory: (c) => {
        const heartbeats = c.resolve<Queue>(METASRV.HeartbeatQueue);
        const nodes = c.resolve<NodeTaskClient>(METASRV.NodeTasks);
        return bullBoardRoutes(() => [heartbeats, ...nodes.openQueues], config.boardReadOnly);
      },
    });
  },
};

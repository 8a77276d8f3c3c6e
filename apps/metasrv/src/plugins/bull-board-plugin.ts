import 'reflect-metadata';
import type { Plugin } from '@regionstore/runtime';
import type { Queue } from 'bullmq';
import { bullBoardRoutes } from '../bull-board-routes';
import { METASRV, type MetasrvPluginConfig } from './tokens';

/** Bull Board at `/admin/queues` over the heartbeat queue and every node queue opened so far. */
export const bullBoardPlugin: Plugin<MetasrvPluginConfig> = {
  name: 'bull-board',
  register(container, config) {
    container.register(METASRV.AdminRoutes, {
      useFactory: (c) => bullBoardRoutes(c.resolve<() => Queue[]>(METASRV.Queues), config.boardReadOnly),
    });
  },
};

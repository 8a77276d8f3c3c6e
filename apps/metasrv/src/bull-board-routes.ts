import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { AdminRoutes } from './admin-routes';

const BOARD_PATH = '/admin/queues';

/**
 * Bull Board's pages and API at `/admin/queues` (a browser logs in with Basic auth). The queue list is
 * read again on each board request, so node queues opened since show up.
 */
export function bullBoardRoutes(queues: () => Queue[], readOnly: boolean): AdminRoutes {
  return {
    name: 'bull-board',
    browserPrefix: BOARD_PATH,
    async install({ app }) {
      const serverAdapter = new FastifyAdapter();
      serverAdapter.setBasePath(BOARD_PATH);
      const board = createBullBoard({ queues: [], serverAdapter });
      app.addHook('onRequest', async (request) => {
        if (request.routeOptions.url?.startsWith(BOARD_PATH)) {
          board.replaceQueues(queues().map((q) => new BullMQAdapter(q, { readOnlyMode: readOnly })));
        }
      });
      await app.register(serverAdapter.registerPlugin(), { prefix: BOARD_PATH });
    },
  };
}

import { InvalidArgumentError, NotFoundError, composeTimestamp } from '@regionstore/core';
import { backupRequestSchema, storageUrlSchema, timestampCodec } from '@regionstore/protocol';
import { parseBody } from '@regionstore/http';
import { checkAllowedStorage } from '@regionstore/storage-backends';
import { z } from 'zod';
import type { AdminRoutes } from './admin-routes';
import type { ClusterBackup } from './cluster-backup';
import type { ClusterRestore } from './cluster-restore';

const operationId = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/)
  .optional();
/** `wait: false` answers at once with the Running record; poll its status for progress. */
const waitField = z.boolean().default(true);
/** `force`: restore even where the cluster holds versions newer than the backup (they stay visible). */
const restoreSchema = z.strictObject({
  storage: storageUrlSchema,
  id: operationId,
  wait: waitField,
  force: z.boolean().default(false),
});

/**
 * `/admin/backup(s)` and `/admin/restore(s)`: start one (leader only, to a location in
 * `backup.allowedStorage`), list them, read one.
 */
export function operationsRoutes(
  backups: ClusterBackup,
  restores: ClusterRestore,
  allowedStorage: readonly string[],
): AdminRoutes {
  return {
    name: 'operations',
    install({ app, requireLeader }) {
      app.post('/admin/backup', async (request) => {
        await requireLeader();
        const body = parseBody(
          backupRequestSchema.extend({
            id: operationId,
            wait: waitField,
            // Read at the metasrv's clock unless asked: a caller's clock may run ahead of the nodes'.
            endVersion: timestampCodec.optional(),
          }),
          request.body,
        );
        checkAllowedStorage(body.storage, allowedStorage);
        if (body.isRawKv) {
          throw new InvalidArgumentError(
            'a cluster backup reads MVCC versions: a raw-KV backup could not be restored (isRawKv is for the node backup job)',
            { isRawKv: true },
          );
        }
        const { id, wait, endVersion, ...rest } = body;
        const backup = { ...rest, endVersion: endVersion ?? composeTimestamp(Date.now()) };
        if (backup.startVersion >= backup.endVersion) {
          throw new InvalidArgumentError(
            `startVersion ${backup.startVersion} is not before endVersion ${backup.endVersion}: the backup would hold no change`,
            { startVersion: backup.startVersion.toString(), endVersion: backup.endVersion.toString() },
          );
        }
        const { record, done } = await backups.start(id ?? `backup-${Date.now()}`, backup);
        return wait ? done : record;
      });
      app.get('/admin/backups', async () => ({ backups: await backups.operations.list() }));
      app.get('/admin/backups/:id', async (request) => {
        const record = await backups.operations.get((request.params as { id: string }).id);
        if (!record) throw new NotFoundError('no such backup');
        return record;
      });
      app.post('/admin/restore', async (request) => {
        await requireLeader();
        const body = parseBody(restoreSchema, request.body);
        checkAllowedStorage(body.storage, allowedStorage);
        const { record, done } = await restores.start(body.id ?? `restore-${Date.now()}`, body.storage, {
          force: body.force,
        });
        return body.wait ? done : record;
      });
      app.get('/admin/restores', async () => ({ restores: await restores.operations.list() }));
      app.get('/admin/restores/:id', async (request) => {
        const record = await restores.operations.get((request.params as { id: string }).id);
        if (!record) throw new NotFoundError('no such restore');
        return record;
      });
    },
  };
}

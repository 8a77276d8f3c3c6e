import { Readable } from 'node:stream';
import { CorruptFileError, InternalError } from '@regionstore/core';
import {
  backupMetaSchema,
  type BackupMeta,
  type BackupRequest,
  type BackupResponse,
} from '@regionstore/protocol';
import type { ExternalStorage } from '@regionstore/storage-backends';
import { z } from 'zod';

export const BACKUP_META_NAME = 'backupmeta';
export const TOOL_VERSION = 'regionstore-backup/0.1.0';

/**
 * The `backupmeta` of a finished backup: every range and file with its checksum. A backup with a
 * failed range has no meta (a restore of it would silently miss data), so this throws instead.
 */
export function buildBackupMeta(
  request: BackupRequest,
  responses: BackupResponse[],
  now = new Date(),
): BackupMeta {
  const failed = responses.filter((r) => r.error);
  if (failed.length > 0) {
    throw new InternalError(
      `backup has ${failed.length} failed range(s): ${failed.map((r) => `${r.error!.code}: ${r.error!.message}`).join('; ')}`,
      { failed: failed.map((r) => r.error) },
    );
  }
  return {
    version: 1,
    toolVersion: TOOL_VERSION,
    createdAt: now.toISOString(),
    startVersion: request.startVersion,
    endVersion: request.endVersion,
    isRawKv: request.isRawKv,
    cf: request.cf,
    ranges: responses.map((r) => ({ startKey: r.startKey, endKey: r.endKey })),
    files: responses.flatMap((r) => r.files),
  };
}

export async function writeBackupMeta(storage: ExternalStorage, meta: BackupMeta): Promise<void> {
  const body = Buffer.from(JSON.stringify(z.encode(backupMetaSchema, meta)));
  await storage.write(BACKUP_META_NAME, Readable.from([body]), { size: body.length });
}

export async function readBackupMeta(storage: ExternalStorage): Promise<BackupMeta> {
  const chunks: Buffer[] = [];
  for await (const chunk of await storage.read(BACKUP_META_NAME)) chunks.push(chunk as Buffer);
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new CorruptFileError(`${BACKUP_META_NAME} is not JSON: ${(err as Error).message}`);
  }
  const parsed = backupMetaSchema.safeParse(raw);
  if (!parsed.success) {
    throw new CorruptFileError(`${BACKUP_META_NAME} is malformed: ${parsed.error.issues[0]?.message}`);
  }
  return parsed.data;
}

export {
  backupFileSchema,
  backupMetaSchema,
  backupRequestSchema,
  backupResponseSchema,
  type BackupFile,
  type BackupMeta,
  type BackupRequest,
  type BackupRequestWire,
  type BackupResponse,
} from '@regionstore/protocol';
export * from './backup-range';
export * from './config';
export * from './endpoint';
export * from './file-name';
export * from './meta';
export * from './metrics';
export * from './plugin';
export * from './pool';
export * from './progress';
export * from './read-admission';
export * from './region-info';
export * from './restore';
export * from './shared-limiters';
export * from './task';

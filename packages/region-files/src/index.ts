export * from './compaction';
export * from './compression';
export * from './delta-file';
export * from './file-purger';
export * from './manifest';
export * from './snapshot-file';
export * from './wal-entry';

export * from './create-storage';
export * from './local-storage';
export * from './memory-storage';
export * from './noop-storage';
export * from './object-name';
export * from './rate-limiter';
export * from './s3-storage';
export * from './storage';

export * from './redis-namespace';
export * from './temp-dir';
export * from './redis-server';
export * from './redis-cluster';
export * from './redis-sentinel';
export * from './collect';

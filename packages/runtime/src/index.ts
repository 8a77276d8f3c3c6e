export * from './cluster-identity';
export * from './config';
export * from './di';
export * from './logger';
export * from './metrics';
export * from './redis';
export * from './redis-target';
export * from './shutdown';

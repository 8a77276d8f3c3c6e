export * from './log-store';
export * from './redis-log-store';
export * from './plugin';
export * from './durability';

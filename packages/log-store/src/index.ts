export * from './log-store';
export * from './redis-log-store';

export * from './redis-namespace';
export * from './temp-dir';

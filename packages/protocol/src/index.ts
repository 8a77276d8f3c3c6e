export * from './backup';
export * from './codecs';
export * from './data-api';
export * from './http';
export * from './jobs';
export * from './queues';
export * from './wire';
export * from './lease';

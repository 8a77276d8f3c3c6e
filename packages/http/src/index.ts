export * from './http-errors';
export * from './wire-format';

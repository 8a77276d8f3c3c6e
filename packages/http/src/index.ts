export * from './bearer-token';
export * from './http-errors';
export * from './wire-format';
export * from './request-log';

import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** Paths pino censors in every log line, so tokens and credentials never reach log storage. */
export const REDACTED_PATHS = [
  'token',
  'password',
  'authorization',
  'secretAccessKey',
  'accessKeyId',
  'sessionToken',
  '*.token',
  '*.password',
  '*.authorization',
  '*.secretAccessKey',
  '*.accessKeyId',
  '*.sessionToken',
  'req.headers.authorization',
  'headers.authorization',
];

export interface LoggerConfig {
  level?: string;
  /** Component or app name, logged as `name`. */
  name?: string;
  /** Fields bound to every line, e.g. `{ nodeId }`. */
  bindings?: Record<string, unknown>;
}

/** A pino JSON logger. Pass `destination` to capture lines (tests) instead of stdout. */
export function createLogger(config: LoggerConfig = {}, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level: config.level ?? process.env.LOG_LEVEL ?? 'info',
    name: config.name,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: { pid: process.pid, ...config.bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}

/** A child logger for one region; ids are strings so 64-bit values print exactly. */
export function regionLogger(logger: Logger, regionId: { toString(): string }): Logger {
  return logger.child({ regionId: regionId.toString() });
}

/** A logger that drops everything, for library users who pass none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

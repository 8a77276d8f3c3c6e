/**
 * Every failure that crosses a component boundary is a RegionStoreError with a stable `code`.
 * Codes are part of the wire protocol (HTTP bodies, job results), so they never change meaning.
 */
import { isRedisUnreachable } from './redis-errors';

/** Stable error codes and the HTTP status each one maps to. */
export const ERROR_HTTP_STATUS = {
  InvalidArgument: 400,
  InvalidCf: 400,
  InvalidConfig: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  RegionNotFound: 404,
  TableRouteNotFound: 404,
  KeyNotInRange: 409,
  EpochNotMatch: 409,
  MigrationRunning: 409,
  Locked: 423,
  NotLeader: 421,
  WriteBufferFull: 503,
  ServerIsBusy: 503,
  WorkerStopped: 503,
  Cancelled: 499,
  Timeout: 504,
  StorageError: 502,
  ChecksumMismatch: 422,
  CorruptFile: 422,
  FailPoint: 500,
  ClusterIdMismatch: 409,
  FailedPrecondition: 409,
  WalRegression: 500,
  TsTooOld: 410,
  DataIsNotReady: 503,
  Internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_HTTP_STATUS;

export const ERROR_CODES = Object.keys(ERROR_HTTP_STATUS) as ErrorCode[];

export type ErrorDetails = Record<string, unknown>;

/** The JSON shape of an error on the wire: `{code, message, details}`. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details: ErrorDetails;
}

export class RegionStoreError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = details;
    this.name = `${code}Error`;
  }

  get httpStatus(): number {
    return httpStatusFor(this.code);
  }

  toJSON(): ErrorBody {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function httpStatusFor(code: string): number {
  return isErrorCode(code) ? ERROR_HTTP_STATUS[code] : 500;
}

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_HTTP_STATUS, code);
}

type ErrorClass<C extends ErrorCode> = {
  new (
    message: string,
    details?: ErrorDetails,
    options?: { cause?: unknown },
  ): RegionStoreError & { code: C };
  readonly code: C;
};

function defineError<C extends ErrorCode>(code: C): ErrorClass<C> {
  const cls = class extends RegionStoreError {
    static readonly code = code;
    constructor(message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
      super(code, message, details, options);
    }
  };
  Object.defineProperty(cls, 'name', { value: `${code}Error` });
  return cls as unknown as ErrorClass<C>;
}

export const InvalidArgumentError = defineError('InvalidArgument');
export type InvalidArgumentError = InstanceType<typeof InvalidArgumentError>;
export const InvalidCfError = defineError('InvalidCf');
export type InvalidCfError = InstanceType<typeof InvalidCfError>;
export const InvalidConfigError = defineError('InvalidConfig');
export type InvalidConfigError = InstanceType<typeof InvalidConfigError>;
export const UnauthorizedError = defineError('Unauthorized');
export type UnauthorizedError = InstanceType<typeof UnauthorizedError>;
/** Allowed to call, not allowed to do this (a storage URL outside the configured list). */
export const ForbiddenError = defineError('Forbidden');
export type ForbiddenError = InstanceType<typeof ForbiddenError>;

export const NotFoundError = defineError('NotFound');
export type NotFoundError = InstanceType<typeof NotFoundError>;
export const RegionNotFoundError = defineError('RegionNotFound');
export type RegionNotFoundError = InstanceType<typeof RegionNotFoundError>;
export const TableRouteNotFoundError = defineError('TableRouteNotFound');
export type TableRouteNotFoundError = InstanceType<typeof TableRouteNotFoundError>;
export const KeyNotInRangeError = defineError('KeyNotInRange');
export type KeyNotInRangeError = InstanceType<typeof KeyNotInRangeError>;
export const EpochNotMatchError = defineError('EpochNotMatch');
export type EpochNotMatchError = InstanceType<typeof EpochNotMatchError>;
export const MigrationRunningError = defineError('MigrationRunning');
export type MigrationRunningError = InstanceType<typeof MigrationRunningError>;
export const LockedError = defineError('Locked');
export type LockedError = InstanceType<typeof LockedError>;
export const NotLeaderError = defineError('NotLeader');
export type NotLeaderError = InstanceType<typeof NotLeaderError>;
export const WriteBufferFullError = defineError('WriteBufferFull');
export type WriteBufferFullError = InstanceType<typeof WriteBufferFullError>;
export const ServerIsBusyError = defineError('ServerIsBusy');
export type ServerIsBusyError = InstanceType<typeof ServerIsBusyError>;
export const WorkerStoppedError = defineError('WorkerStopped');
export type WorkerStoppedError = InstanceType<typeof WorkerStoppedError>;
export const CancelledError = defineError('Cancelled');
export type CancelledError = InstanceType<typeof CancelledError>;
export const TimeoutError = defineError('Timeout');
export type TimeoutError = InstanceType<typeof TimeoutError>;
export const StorageError = defineError('StorageError');
export type StorageError = InstanceType<typeof StorageError>;
export const ChecksumMismatchError = defineError('ChecksumMismatch');
export type ChecksumMismatchError = InstanceType<typeof ChecksumMismatchError>;
export const CorruptFileError = defineError('CorruptFile');
export type CorruptFileError = InstanceType<typeof CorruptFileError>;
export const FailPointError = defineError('FailPoint');
export type FailPointError = InstanceType<typeof FailPointError>;
/**
 * A process was pointed at a cluster that is not the one its data belongs to (TiKV's "cluster ID
 * mismatch"), or at a Redis that knows no cluster while its data belongs to one.
 */
export const ClusterIdMismatchError = defineError('ClusterIdMismatch');
export type ClusterIdMismatchError = InstanceType<typeof ClusterIdMismatchError>;
/**
 * The cluster is not in the state an operation needs, and doing it anyway would not do what was asked
 * (a restore into a cluster holding versions newer than the backup, which would stay visible over it).
 */
export const FailedPreconditionError = defineError('FailedPrecondition');
export type FailedPreconditionError = InstanceType<typeof FailedPreconditionError>;
/** A region's WAL ends before an entry its flush manifest or a node's apply state already holds. */
export const WalRegressionError = defineError('WalRegression');
export type WalRegressionError = InstanceType<typeof WalRegressionError>;

/** A read, backup or service safepoint at a ts below the cluster GC safepoint: those versions are gone. */
export const TsTooOldError = defineError('TsTooOld');
export type TsTooOldError = InstanceType<typeof TsTooOldError>;
/**
 * A follower read at a ts the serving copy has not fully applied yet (TiKV's `DataIsNotReady`): the
 * follower lags, or knows nothing yet. Another copy, or the leader, can serve it.
 */
export const DataIsNotReadyError = defineError('DataIsNotReady');
export type DataIsNotReadyError = InstanceType<typeof DataIsNotReadyError>;
export const InternalError = defineError('Internal');
export type InternalError = InstanceType<typeof InternalError>;

const CLASSES: { [C in ErrorCode]: ErrorClass<C> } = {
  InvalidArgument: InvalidArgumentError,
  InvalidCf: InvalidCfError,
  InvalidConfig: InvalidConfigError,
  Unauthorized: UnauthorizedError,
  Forbidden: ForbiddenError,
  NotFound: NotFoundError,
  RegionNotFound: RegionNotFoundError,
  TableRouteNotFound: TableRouteNotFoundError,
  KeyNotInRange: KeyNotInRangeError,
  EpochNotMatch: EpochNotMatchError,
  MigrationRunning: MigrationRunningError,
  Locked: LockedError,
  NotLeader: NotLeaderError,
  WriteBufferFull: WriteBufferFullError,
  ServerIsBusy: ServerIsBusyError,
  WorkerStopped: WorkerStoppedError,
  Cancelled: CancelledError,
  Timeout: TimeoutError,
  StorageError: StorageError,
  ChecksumMismatch: ChecksumMismatchError,
  CorruptFile: CorruptFileError,
  FailPoint: FailPointError,
  ClusterIdMismatch: ClusterIdMismatchError,
  FailedPrecondition: FailedPreconditionError,
  WalRegression: WalRegressionError,
  TsTooOld: TsTooOldError,
  DataIsNotReady: DataIsNotReadyError,
  Internal: InternalError,
};

/** Rebuilds the typed error from a wire body (HTTP response, job result); unknown codes become Internal. */
export function errorFromBody(body: {
  code?: unknown;
  message?: unknown;
  details?: unknown;
}): RegionStoreError {
  const message = typeof body.message === 'string' ? body.message : 'unknown error';
  const details =
    body.details && typeof body.details === 'object' && !Array.isArray(body.details)
      ? (body.details as ErrorDetails)
      : {};
  if (!isErrorCode(body.code)) {
    return new InternalError(message, { ...details, originalCode: body.code });
  }
  return new CLASSES[body.code](message, details);
}

/** Wraps anything thrown into a RegionStoreError, keeping typed errors as they are. */
export function toRegionStoreError(err: unknown): RegionStoreError {
  if (err instanceof RegionStoreError) return err;
  const message = err instanceof Error ? err.message : String(err);
  // A Redis outage is transient: callers (the client) retry ServerIsBusy.
  if (isRedisUnreachable(err))
    return new ServerIsBusyError(`Redis is unreachable: ${message}`, {}, { cause: err });
  return new InternalError(message, {}, { cause: err });
}

export function isRegionStoreError<C extends ErrorCode>(
  err: unknown,
  code?: C,
): err is RegionStoreError & { code: C } {
  return err instanceof RegionStoreError && (code === undefined || err.code === code);
}

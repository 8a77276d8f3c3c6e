import { isRegionStoreError, type ErrorCode } from '@regionstore/core';

/** Errors that a fresh route (after a failover or a move) can cure. */
const ROUTE_ERRORS = [
  'NotLeader',
  'EpochNotMatch',
  'RegionNotFound',
  'KeyNotInRange',
  'WorkerStopped',
  'ServerIsBusy',
  // A follower read reached a copy that lags (a stale route may name a follower as the leader).
  'DataIsNotReady',
] as const;

/**
 * Errors after which a follower read tries the region's next copy (at last the leader) at once: a
 * follower's copy may lag, be gone, or hold another range than the route (one from before a split).
 */
const NEXT_COPY = [
  'DataIsNotReady',
  'NotLeader',
  'RegionNotFound',
  'KeyNotInRange',
  'WorkerStopped',
  'ServerIsBusy',
] as const;

/** What a metasrv says while no instance holds the leader lease. */
const ADMIN_RETRY = ['NotLeader', 'ServerIsBusy'] as const;

function hasCode(err: unknown, codes: readonly ErrorCode[]): boolean {
  return codes.some((code) => err instanceof Error && isRegionStoreError(err, code));
}

/**
 * Failures of the connection rather than of the request: refused, reset, closed, timed out. Judged by
 * code, since the error may come from another realm (jest, vm).
 */
export function isNetworkError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' &&
    (code.startsWith('UND_ERR_') || ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'].includes(code))
  );
}

/**
 * A failure after which the request may have reached the node: a connection failure other than a
 * refused one, or an answer from a server going away or a proxy (ServerIsBusy with an HTTP `status`).
 */
export function mayHaveBeenSent(err: unknown): boolean {
  if (isNetworkError(err)) return (err as { code?: unknown }).code !== 'ECONNREFUSED';
  return hasCode(err, ['ServerIsBusy']) && typeof outcomeDetails(err)?.status === 'number';
}

function outcomeDetails(err: unknown): { outcome?: unknown; final?: unknown; status?: unknown } | undefined {
  return (err as { details?: { outcome?: unknown; final?: unknown; status?: unknown } } | null)?.details;
}

/**
 * A node's answer that a write may or may not have landed: Redis dropped the connection after the WAL
 * append went out, fewer replicas than asked confirmed it in time, or (`final`) the region cannot
 * tell whether a re-sent write landed before.
 */
export function outcomeUnknown(err: unknown): boolean {
  return outcomeDetails(err)?.outcome === 'unknown';
}

/** The node cannot tell a re-sent write's outcome, and asking again will not change that. */
export function outcomeUndecidable(err: unknown): boolean {
  return outcomeUnknown(err) && outcomeDetails(err)?.final === true;
}

/** Whether a request without a write id (a read, an admin call's data) is worth sending again. */
export function retryable(err: unknown): boolean {
  if (isNetworkError(err)) return true;
  // Sent again without an id, such a write could land twice (and undo a write made in between).
  if (outcomeUnknown(err)) return false;
  return hasCode(err, ROUTE_ERRORS);
}

export function nextCopyCures(err: unknown): boolean {
  return isNetworkError(err) || hasCode(err, NEXT_COPY);
}

export function adminRetryable(err: unknown): boolean {
  return hasCode(err, ADMIN_RETRY);
}

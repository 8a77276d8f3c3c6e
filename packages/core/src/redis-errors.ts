/** How a Redis client's errors read, judged by message (the errors may come from another realm). */

/**
 * Whether an ioredis error says the command was never sent: Redis is down and the connection does not
 * queue (`client` role), or the connect failed. Nothing was written, so retrying is safe.
 */
export function isRedisUnreachable(err: unknown): boolean {
  return err instanceof Error && /enableOfflineQueue|ECONNREFUSED/.test(err.message);
}

/**
 * Whether an ioredis error leaves the command's outcome unknown: it was sent, then the connection
 * dropped (or gave up retrying) before the reply came. The command may have run.
 */
export function isRedisOutcomeUnknown(err: unknown): boolean {
  return (
    err instanceof Error &&
    /max retries per request|Connection is closed|ECONNRESET|EPIPE|ETIMEDOUT|Command timed out|Socket closed/i.test(
      err.message,
    )
  );
}

/**
 * The contract between a client and the nodes that makes re-sending a write safe. A write carries an
 * id; a node remembers the ids of the writes its regions committed recently and answers a repeat with
 * the first answer instead of applying it again.
 */

/**
 * A client re-sends a write whose earlier attempt may have landed only within this long of its first
 * send. Past it, the caller gets the error: the nodes may have forgotten the id.
 */
export const WRITE_RETRY_WINDOW_MS = 30_000;

/** How far apart the clocks of a client's and a node's hosts may be for the window to hold. */
export const WRITE_RETRY_CLOCK_SLACK_MS = 5_000;

/** How long a region remembers a committed write's id (by its commit ts): the window, both ways. */
export const WRITE_ID_TTL_MS = WRITE_RETRY_WINDOW_MS + 2 * WRITE_RETRY_CLOCK_SLACK_MS;

/**
 * An attempt of a write call begun longer ago than this (by the call's `firstSentMs`) may come after
 * the region forgot an earlier attempt of it (one held up in a node while the client re-sent it):
 * unless the region still knows the write, it cannot tell whether it landed.
 */
export const WRITE_ATTEMPT_MAX_AGE_MS = WRITE_ID_TTL_MS - WRITE_RETRY_CLOCK_SLACK_MS;

/** The longest write id a node accepts (a call's id and the parts it was split into: `<id>/<i>/<j>…`). */
export const MAX_WRITE_ID_LENGTH = 128;

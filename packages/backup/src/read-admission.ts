import type { Timestamp } from '@regionstore/core';

/**
 * How the node admits a read at a timestamp before serving it (the worker group's ReadTimestamps
 * fits): it raises the node's max ts, and throws for a ts it cannot serve.
 */
export interface ReadAdmission {
  admit(ts: Timestamp): void;
}

import { randomUUID } from 'node:crypto';
import { WRITE_RETRY_WINDOW_MS } from '@regionstore/core';
import { mayHaveBeenSent, outcomeUndecidable, outcomeUnknown, retryable } from './retry-rules';

/**
 * One write call and its attempts. Every attempt carries the same id, so a node that committed an
 * earlier attempt answers with its result instead of applying the write twice (which would undo a
 * write made in between). Once an attempt may have landed, later ones say so (`retry`) and are made
 * only within WRITE_RETRY_WINDOW_MS of the first, while the nodes still remember the id.
 */
export class WriteAttempt {
  readonly writeId = randomUUID();
  private readonly startedMs = Date.now();
  /** An attempt failed after it may have reached the WAL. */
  mayHaveLanded = false;

  /** Notes an attempt's failure (before `shouldRetry` judges it). */
  failed(err: unknown): void {
    if (outcomeUnknown(err) || mayHaveBeenSent(err)) this.mayHaveLanded = true;
  }

  shouldRetry(err: unknown): boolean {
    if (outcomeUndecidable(err)) return false;
    if (this.mayHaveLanded && Date.now() - this.startedMs >= WRITE_RETRY_WINDOW_MS) return false;
    return outcomeUnknown(err) || retryable(err);
  }

  /** The id fields of an attempt's body. */
  body(): { writeId: string; retry?: true } {
    return this.mayHaveLanded ? { writeId: this.writeId, retry: true } : { writeId: this.writeId };
  }
}

import { randomBytes } from 'node:crypto';
import { WRITE_RETRY_WINDOW_MS } from '@regionstore/core';
import { mayHaveBeenSent, outcomeUndecidable, outcomeUnknown, retryable } from './retry-rules';

/**
 * The attempts of one region's part of a write call. Every attempt carries the part's id, so a node
 * that committed an earlier attempt answers with its result instead of applying the part twice
 * (which would undo a write made in between). Parts of one call have ids of their own (`<call>/<i>`);
 * a part that a split spread over several regions goes on as parts of it (`<call>/<i>/<j>`), and a
 * region that committed the whole answers for any part of it. Every attempt carries the call's start
 * (`firstSentMs`); once one may have landed, later ones say so (`retry`) and are made only within
 * WRITE_RETRY_WINDOW_MS of it, while the nodes still remember the id.
 */
/**
 * Write ids of this process: 72 random bits (ids of other clients never meet them) and a call
 * counter, about 16 characters where a UUID takes 36: each WAL entry carries one.
 */
const ID_PREFIX = randomBytes(9).toString('base64url');
let calls = 0;

export class WriteAttempt {
  private constructor(
    readonly writeId: string,
    private readonly startedMs: number,
    /** An attempt failed after it may have reached the WAL. */
    private mayHaveLanded: boolean,
  ) {}

  /** The root of a write call: not sent itself, only its parts are. */
  static start(): WriteAttempt {
    return new WriteAttempt(`${ID_PREFIX}.${(calls++).toString(36)}`, Date.now(), false);
  }

  part(index: number): WriteAttempt {
    return new WriteAttempt(`${this.writeId}/${index}`, this.startedMs, this.mayHaveLanded);
  }

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
  body(): { writeId: string; firstSentMs: number; retry?: true } {
    const body = { writeId: this.writeId, firstSentMs: this.startedMs };
    return this.mayHaveLanded ? { ...body, retry: true } : body;
  }
}

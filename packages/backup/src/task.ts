import { Channel, InvalidCfError } from '@regionstore/core';
import { isCf, type CfName } from '@regionstore/engine';
import type { BackupRequest, BackupResponse } from '@regionstore/protocol';

/**
 * One backup request on this node: the checked request, its cancel flag, and the stream of responses
 * (one per range) that ends when every worker is done.
 */
export class BackupTask {
  readonly cf: CfName;
  private readonly cancelling = new AbortController();
  private scanned = 0;
  private readonly out = new Channel<BackupResponse>(Number.POSITIVE_INFINITY, 'backup response stream');

  private constructor(readonly request: BackupRequest) {
    this.cf = request.cf as CfName;
  }

  /** Checks the request; an unknown CF fails here with InvalidCf, before anything runs. */
  static create(request: BackupRequest): BackupTask {
    if (!isCf(request.cf)) {
      throw new InvalidCfError(`unknown column family '${request.cf}'`, { cf: request.cf });
    }
    return new BackupTask(request);
  }

  /**
   * Stops the task: workers check it before each range and send nothing more; a range under way stops
   * at its next entry, and its writes waiting on the rate limiter fail.
   */
  cancel(): void {
    this.cancelling.abort();
  }

  get isCancelled(): boolean {
    return this.cancelling.signal.aborted;
  }

  /** Aborts when the task is cancelled. */
  get signal(): AbortSignal {
    return this.cancelling.signal;
  }

  /** Entries the task's workers have read so far: how far it got, while its responses are still to come. */
  get entriesRead(): number {
    return this.scanned;
  }

  /** Endpoint side. */
  countRead(kvs: number): void {
    this.scanned += kvs;
  }

  /** Every response of the task, ending when the task is done. */
  responses(): AsyncIterable<BackupResponse> {
    const out = this.out;
    return {
      async *[Symbol.asyncIterator]() {
        for (let item = await out.recv(); item !== undefined; item = await out.recv()) yield item;
      },
    };
  }

  /** Endpoint side. */
  send(response: BackupResponse): void {
    this.out.send(response).catch(() => undefined); // a finished task drops late responses
  }

  /** Endpoint side: no more responses. */
  finish(): void {
    this.out.close();
  }
}

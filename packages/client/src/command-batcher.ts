import { errorFromBody } from '@regionstore/core';
import { MAX_BATCH_COMMANDS, batchResponseSchema, type DataCommandType } from '@regionstore/protocol';

/** A command as it travels: its endpoint's body (keys and values as Buffers) plus its type. */
export type WireCommand = { type: DataCommandType } & Record<string, unknown>;

/** Sends one `/v1/batch` body to a node and returns the decoded answer. */
export type SendBatch = (address: string, commands: WireCommand[]) => Promise<unknown>;

/** Above this many key and value bytes a batch leaves at once, well inside a node's body limit. */
const MAX_BATCH_BYTES = 1 << 20;

interface Queued {
  command: WireCommand;
  resolve: (ok: unknown) => void;
  reject: (err: unknown) => void;
}

interface Pending {
  queued: Queued[];
  bytes: number;
}

/**
 * Batch commands, as TiKV's client has them: data calls to one node made within one tick of the event
 * loop travel in one `/v1/batch` request, which the node runs concurrently and answers together. Each
 * call still gets its own answer or typed error, so routing and retries stay per call.
 */
export class CommandBatcher {
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly send: SendBatch) {}

  /** Resolves with what the command's own endpoint would answer (still to be parsed by its schema). */
  call(address: string, command: WireCommand, bytes: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let batch = this.pending.get(address);
      if (batch && batch.bytes + bytes > MAX_BATCH_BYTES) {
        this.flush(address);
        batch = undefined;
      }
      if (!batch) {
        batch = { queued: [], bytes: 0 };
        this.pending.set(address, batch);
        const mine = batch;
        setImmediate(() => {
          if (this.pending.get(address) === mine) this.flush(address);
        });
      }
      batch.queued.push({ command, resolve, reject });
      batch.bytes += bytes;
      if (batch.queued.length >= MAX_BATCH_COMMANDS) this.flush(address);
    });
  }

  private flush(address: string): void {
    const batch = this.pending.get(address);
    if (!batch) return;
    this.pending.delete(address);
    const { queued } = batch;
    this.send(
      address,
      queued.map((q) => q.command),
    )
      .then((body) => batchResponseSchema.parse(body).results)
      .then(
        (results) => {
          queued.forEach((q, i) => {
            const result = results[i];
            if (!result) q.reject(new Error(`batch answer from ${address} lacks result ${i}`));
            else if ('error' in result) q.reject(errorFromBody(result.error));
            else q.resolve(result.ok);
          });
        },
        (err: unknown) => queued.forEach((q) => q.reject(err)),
      );
  }
}

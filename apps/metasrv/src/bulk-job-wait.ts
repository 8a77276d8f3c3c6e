import { Job, type Queue, type QueueEvents } from 'bullmq';
import type { EventEmitter } from 'node:events';

/** What shows a node's bulk queue at work: any of its jobs reporting progress, taken or finished. */
const MOVES = ['progress', 'active', 'completed', 'failed'] as const;

/**
 * Waits for a job on a node's bulk queue for as long as that queue moves. A backup of a large region
 * takes minutes and its node reports progress every second (so do the jobs queued ahead of it); a
 * node that died or hangs reports nothing, and `idleMs` after the last sign the wait ends with
 * `onIdle()`'s error, unless the job turns out to have finished. Resolves with the job's return value;
 * rejects with its failure reason, or once `closed` aborts.
 */
export async function waitWhileQueueMoves(
  queue: Queue,
  job: Job,
  events: QueueEvents,
  idleMs: number,
  onIdle: () => Error,
  closed: AbortSignal,
): Promise<unknown> {
  await events.waitUntilReady();
  // BullMQ's typings know the queue-wide events only, not the per-job `completed:<id>` it also emits.
  const emitter = events as unknown as EventEmitter;
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    /** Grows with every sign of movement: an idle check that a later sign overtook does not count. */
    let movements = 0;
    const completed = (args: { returnvalue: unknown }) => settle(() => resolve(args.returnvalue));
    const failed = (args: { failedReason: string }) => settle(() => reject(new Error(args.failedReason)));
    const closing = () => settle(() => reject(new Error(`stopped waiting on ${queue.name}: closed`)));
    /** Settles from the job's state if it finished; `otherwise` if it did not. */
    const fromState = async (otherwise?: () => void) => {
      if (settled) return;
      const state = await job.getState();
      if (state === 'completed' || state === 'failed') {
        const now = await Job.fromId(queue, job.id!);
        if (state === 'completed') completed({ returnvalue: now?.returnvalue });
        else failed({ failedReason: now?.failedReason ?? 'failed' });
      } else otherwise?.();
    };
    const moved = () => {
      if (settled) return;
      clearTimeout(timer);
      const at = ++movements;
      const idle = () => {
        if (at === movements) settle(() => reject(onIdle()));
      };
      // A finish may land between the last event and the timer: its answer is kept, not redone.
      timer = setTimeout(() => void fromState(idle).catch(idle), idleMs);
    };
    const settle = (finish: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      emitter.off(`completed:${job.id}`, completed);
      emitter.off(`failed:${job.id}`, failed);
      for (const event of MOVES) emitter.off(event, moved);
      closed.removeEventListener('abort', closing);
      finish();
    };
    emitter.on(`completed:${job.id}`, completed);
    emitter.on(`failed:${job.id}`, failed);
    for (const event of MOVES) emitter.on(event, moved);
    closed.addEventListener('abort', closing);
    if (closed.aborted) return closing();
    moved();
    // It may have finished before the listeners were there.
    fromState().catch(() => undefined);
  });
}

import { Job, type Queue, type QueueEvents } from 'bullmq';
import type { EventEmitter } from 'node:events';

/** What shows a node's bulk queue at work: any of its jobs reporting progress, taken or finished. */
const MOVES = ['progress', 'active', 'completed', 'failed'] as const;

/**
 * Waits for a job on a node's bulk queue for as long as that queue moves. A backup of a large region
 * takes minutes and its node reports progress every second (so do the jobs queued ahead of it); a
 * node that died or hangs reports nothing, and `idleMs` after the last sign the wait ends with
 * `onIdle()`'s error. Resolves with the job's return value; rejects with its failure reason.
 */
export async function waitWhileQueueMoves(
  queue: Queue,
  job: Job,
  events: QueueEvents,
  idleMs: number,
  onIdle: () => Error,
): Promise<unknown> {
  await events.waitUntilReady();
  // BullMQ's typings know the queue-wide events only, not the per-job `completed:<id>` it also emits.
  const emitter = events as unknown as EventEmitter;
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const moved = () => {
      clearTimeout(timer);
      timer = setTimeout(() => settle(() => reject(onIdle())), idleMs);
    };
    const completed = (args: { returnvalue: unknown }) => settle(() => resolve(args.returnvalue));
    const failed = (args: { failedReason: string }) => settle(() => reject(new Error(args.failedReason)));
    const settle = (finish: () => void) => {
      clearTimeout(timer);
      emitter.off(`completed:${job.id}`, completed);
      emitter.off(`failed:${job.id}`, failed);
      for (const event of MOVES) emitter.off(event, moved);
      finish();
    };
    emitter.on(`completed:${job.id}`, completed);
    emitter.on(`failed:${job.id}`, failed);
    for (const event of MOVES) emitter.on(event, moved);
    moved();
    // It may have finished before the listeners were there.
    void Job.fromId(queue, job.id!)
      .then((now) => {
        if (now?.finishedOn === undefined) return;
        if (now.failedReason) failed({ failedReason: now.failedReason });
        else completed({ returnvalue: now.returnvalue });
      })
      .catch(() => undefined);
  });
}

import { Job, UnrecoverableError, Worker, type JobJson, type Processor, type WorkerOptions } from 'bullmq';

/** Why a job's data could not be decoded, by job (BullMQ builds the job before the processor runs). */
const undecodable = new WeakMap<Job, { reason: string; raw: string }>();

/** How much of undecodable data is kept on the failed job, for whoever looks at it. */
const KEPT_BYTES = 1024;

/**
 * A BullMQ worker for RegionStore's task queues. BullMQ parses a job's data (JSON) before it hands the
 * job to the processor; data that is not JSON makes it throw there, and the job stays active until the
 * stall checker gives up on it. Here such a job reaches the processor and fails at once, unrecoverably,
 * saying why, with its data replaced by `{notJson: <its first KiB>}` so queue listings (Bull Board) can
 * still read it.
 */
export class JobWorker<T = unknown, R = unknown> extends Worker<T, R> {
  constructor(name: string, processor: Processor<T, R>, options: WorkerOptions) {
    super(
      name,
      async (job, token, signal) => {
        const bad = undecodable.get(job);
        if (bad === undefined) return processor(job, token, signal);
        await job.updateData({ notJson: bad.raw.slice(0, KEPT_BYTES) } as T);
        throw new UnrecoverableError(
          JSON.stringify({
            code: 'InvalidArgument',
            message: `job data is not JSON: ${bad.reason}`,
            details: {},
          }),
        );
      },
      options,
    );
  }

  protected override createJob(data: JobJson, jobId: string): Job<T, R, string> {
    try {
      return super.createJob(data, jobId);
    } catch (err) {
      const job = super.createJob({ ...data, data: '{}' }, jobId);
      undecodable.set(job, { reason: (err as Error).message, raw: String(data.data) });
      return job;
    }
  }
}

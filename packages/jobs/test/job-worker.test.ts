import { JobWorker } from '@regionstore/jobs';
import { useRedisNamespace } from '@regionstore/testing';
import { Queue, QueueEvents } from 'bullmq';

const ns = useRedisNamespace('jobs');

describe('JobWorker', () => {
  it('fails a job whose data is not JSON at once, with the reason, keeps it listable, and goes on with the next', async () => {
    const connection = await ns.connect('worker');
    const queue = new Queue('tasks', { connection, prefix: ns.prefix });
    const events = new QueueEvents('tasks', { connection: await ns.connect('worker'), prefix: ns.prefix });
    await events.waitUntilReady();
    const bad = await queue.add('work', { n: 1 });
    // What a hostile or broken producer can leave in Redis: the job hash with data that is not JSON.
    await connection.hset(`${ns.prefix}:tasks:${bad.id}`, 'data', '{not json');
    const good = await queue.add('work', { n: 2 });
    const seen: unknown[] = [];
    const worker = new JobWorker(
      'tasks',
      async (job) => {
        seen.push(job.data);
        return 'done';
      },
      { connection: await ns.connect('worker'), prefix: ns.prefix },
    );
    try {
      await expect(bad.waitUntilFinished(events, 10_000)).rejects.toThrow(/job data is not JSON/);
      await expect(good.waitUntilFinished(events, 10_000)).resolves.toBe('done');
      expect(seen).toEqual([{ n: 2 }]);
      const failed = await queue.getJob(bad.id!);
      expect(await failed!.getState()).toBe('failed');
      expect(failed!.attemptsMade).toBe(1);
      expect(failed!.data).toEqual({ notJson: '{not json' }); // listable again (Bull Board)
    } finally {
      await worker.close();
      await events.close();
      await queue.close();
    }
  });
});

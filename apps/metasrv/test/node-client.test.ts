import { RegionId } from '@regionstore/core';
import { QueueNames, backupRequestSchema, encodeJobResult, type JobPayload } from '@regionstore/protocol';
import { useRedisNamespace } from '@regionstore/testing';
import { Queue, Worker, type Job } from 'bullmq';
import { NodeTaskClient } from '../src/node-client';

const ns = useRedisNamespace('metasrv-node-client');
const names = new QueueNames(ns.prefix);
const TIMEOUT_MS = 400;

const closing: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const close of closing.reverse()) await close();
});

/** A node's worker on one of its queues, run by the test: `work` is what the node does with a job. */
async function nodeWorker(queue: string, work: (job: Job) => Promise<unknown>): Promise<Worker> {
  const worker = new Worker(queue, work, {
    connection: await ns.connect('worker'),
    prefix: names.bullmqPrefix,
    concurrency: 4,
  });
  closing.push(() => worker.close(true));
  return worker;
}

const backup = (storage: string): JobPayload<'backup'> => ({
  request: backupRequestSchema.parse({ storage, endVersion: '1' }),
});
const noFiles = () => encodeJobResult('backup', { responses: [] });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

describe('NodeTaskClient', () => {
  const client = new NodeTaskClient(ns.url, names, TIMEOUT_MS);
  closing.push(() => client.close());

  it('sends tasks to the node queue and backups to its bulk queue, waiting on a backup as long as it progresses', async () => {
    const seen: string[] = [];
    await nodeWorker(names.node('n1'), async (job) => {
      seen.push(`tasks ${job.name}`);
      return encodeJobResult('flush-region', { regionId: new RegionId(1, 1), lastEntryId: 3 });
    });
    await nodeWorker(names.nodeBulk('n1'), async (job) => {
      seen.push(`bulk ${job.name}`);
      // Three times the client's timeout, reporting progress all along.
      for (let count = 1; count <= 12; count++) {
        await sleep(TIMEOUT_MS / 4);
        await job.updateProgress(count);
      }
      return noFiles();
    });
    const started = Date.now();
    expect(await client.call('n1', 'backup', backup('noop://progressing'))).toEqual({ responses: [] });
    expect(Date.now() - started).toBeGreaterThan(TIMEOUT_MS * 2);
    expect(await client.call('n1', 'flush-region', { regionId: new RegionId(1, 1) })).toMatchObject({
      lastEntryId: 3,
    });
    expect(seen).toEqual(['bulk backup', 'tasks flush-region']);
  });

  it('gives up on a backup whose node goes quiet, and on one no node takes, withdrawing that one', async () => {
    await nodeWorker(names.nodeBulk('quiet'), async (job) => {
      await job.updateProgress(1);
      await sleep(TIMEOUT_MS * 5);
      return noFiles();
    });
    await expect(client.call('quiet', 'backup', backup('noop://quiet'))).rejects.toMatchObject({
      code: 'Timeout',
      message: expect.stringMatching(/showed no progress for 400 ms/),
    });

    // Nobody consumes the queue of a dead node: the job is taken off it, so the node, back, does not run
    // a backup the caller sent elsewhere meanwhile.
    await expect(
      client.call('dead', 'backup', backup('noop://dead'), { jobId: 'backup-dead-1' }),
    ).rejects.toMatchObject({ code: 'Timeout' });
    const queue = new Queue(names.nodeBulk('dead'), {
      connection: await ns.connect('worker'),
      prefix: names.bullmqPrefix,
    });
    closing.push(() => queue.close());
    expect(await queue.getJob('backup-dead-1')).toBeUndefined();
  });

  it('answers a backup sent again under its job id with the first answer, not a second run', async () => {
    let runs = 0;
    await nodeWorker(names.nodeBulk('again'), async () => {
      // The first attempt fails as a node's retryable errors do; the retry succeeds.
      if (++runs === 1) throw new Error('{"code":"ServerIsBusy","message":"busy","details":{}}');
      return noFiles();
    });
    const options = { jobId: 'backup-again-1' };
    expect(await client.call('again', 'backup', backup('noop://again'), options)).toEqual({ responses: [] });
    // Finished before this wait began: the wait reads the answer instead of waiting out the silence.
    expect(await client.call('again', 'backup', backup('noop://again'), options)).toEqual({ responses: [] });
    expect(runs).toBe(2);
  });

  it('ends the wait on a backup when the client closes, instead of holding the process for the timeout', async () => {
    const closing = new NodeTaskClient(ns.url, names, 60_000);
    const waiting = closing.call('nobody', 'backup', backup('noop://nobody'));
    const outcome = waiting.then(
      () => 'answered',
      (err: Error) => err.message,
    );
    await sleep(200);
    const started = Date.now();
    await closing.close();
    expect(await outcome).toMatch(/stopped waiting on node-nobody.bulk: closed/);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

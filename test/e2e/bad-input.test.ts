import { RegionStoreClient } from '@regionstore/client';
import { createRedis } from '@regionstore/runtime';
import { QueueNames } from '@regionstore/protocol';
import { Queue, QueueEvents } from 'bullmq';
import { testRedisUrl } from '@regionstore/testing';
import { useCluster } from './cluster';

const clusters = useCluster('e2e-bad-input');

const post = (url: string, body: string, contentType = 'application/json') =>
  fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body });

describe('bad input to running processes', () => {
  it('answers malformed HTTP bodies and job payloads with typed errors, and every process stays up', async () => {
    const cluster = await clusters.start({ nodes: 1, initialRegions: 1 });
    const [route] = await cluster.routes();
    const node = route!.address;
    const m = cluster.metasrvUrl;

    const cases: Array<[string, Promise<Response>]> = [
      ['node: not JSON', post(`${node}/v1/write`, '{"regionId": ')],
      ['node: wrong types', post(`${node}/v1/write`, JSON.stringify({ regionId: 7, mutations: 'x' }))],
      [
        'node: key not base64',
        post(`${node}/v1/get`, JSON.stringify({ regionId: route!.regionId, key: '%%%' })),
      ],
      ['node: wrong content type', post(`${node}/v1/scan`, 'hello', 'text/plain')],
      ['metasrv: not JSON', post(`${m}/admin/backup`, '[')],
      ['metasrv: bad migrate', post(`${m}/admin/migrate`, JSON.stringify({ regionId: 'x', to: '' }))],
      ['metasrv: bad restore', post(`${m}/admin/restore`, JSON.stringify({ storage: 5 }))],
      [
        'metasrv: storage URL over 2048 characters',
        post(`${m}/admin/restore`, JSON.stringify({ storage: `local:///${'x'.repeat(3000)}` })),
      ],
      [
        // a cluster restore could not write it back: refused before anything runs
        'metasrv: a raw-KV cluster backup',
        post(`${m}/admin/backup`, JSON.stringify({ storage: 'noop://', isRawKv: true })),
      ],
      [
        'metasrv: an incremental backup that starts at its end',
        post(`${m}/admin/backup`, JSON.stringify({ storage: 'noop://', startVersion: '5', endVersion: '5' })),
      ],
      [
        'metasrv: unknown field',
        post(`${m}/admin/backup`, JSON.stringify({ storage: 'noop://', endVersion: '1', evil: true })),
      ],
      [
        // once 8 failed jobs of 11.5 MB each in Redis, and 31 MB answers from /admin/restores. Under
        // the 1 MiB body limit, so validation answers it: a body over the limit gets its 413 before
        // the client has sent it all, and the client may see the connection closed (EPIPE) instead.
        'metasrv: a 900 KiB storage string',
        post(`${m}/admin/restore`, JSON.stringify({ storage: `local:///${'x'.repeat(900 << 10)}` })),
      ],
    ];
    for (const [name, pending] of cases) {
      const response = await pending;
      expect([name, response.status]).toEqual([name, expect.any(Number)]);
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
      expect(((await response.json()) as { code: string }).code).toBe('InvalidArgument');
    }

    // job payloads the node's task worker cannot use fail at once, with the reason
    const connection = createRedis(testRedisUrl(), 'worker');
    const names = new QueueNames(cluster.prefix);
    const queueName = names.node(route!.leader);
    const queue = new Queue(queueName, { connection, prefix: names.bullmqPrefix });
    const eventsConnection = connection.duplicate();
    const events = new QueueEvents(queueName, { connection: eventsConnection, prefix: names.bullmqPrefix });
    try {
      await events.waitUntilReady();
      const bad = await queue.add('open-region', { regionId: 'nope', range: [] });
      const reason = await bad.waitUntilFinished(events, 20_000).then(
        () => 'completed',
        (err: Error) => err.message,
      );
      expect(JSON.parse(reason)).toMatchObject({ code: 'InvalidArgument' });
      const unknown = await queue.add('format-disk', {});
      await expect(unknown.waitUntilFinished(events, 20_000)).rejects.toThrow(/unknown job 'format-disk'/);
      // An unknown field is refused, not stripped: this job would otherwise close the region.
      const misspelt = await queue.add('close-region', { regionId: route!.regionId, destory: true });
      await expect(misspelt.waitUntilFinished(events, 20_000)).rejects.toThrow(/Unrecognized key/);
      expect((await cluster.routes())[0]!.leader).toBe(route!.leader);
      // Data that is not JSON (a broken producer) fails at once instead of staying active.
      const broken = await queue.add('flush-region', { regionId: route!.regionId }, { delay: 60_000 });
      await connection.hset(`${names.bullmqPrefix}:${queueName}:${broken.id}`, 'data', '{oops');
      await broken.promote();
      await expect(broken.waitUntilFinished(events, 20_000)).rejects.toThrow(/job data is not JSON/);
    } finally {
      await events.close();
      await queue.close();
      connection.disconnect();
      eventsConnection.disconnect();
    }

    for (const name of ['metasrv-1', 'node-1']) expect(cluster.processes.get(name)!.exitCode).toBeNull();
    expect((await fetch(`${node}/health`)).ok).toBe(true);
    const client = new RegionStoreClient({ metasrv: m });
    await client.put(Buffer.from('still'), Buffer.from('serving'));
    expect((await client.get(Buffer.from('still')))?.toString()).toBe('serving');
    await cluster.stop();
  });

  it('keeps backups and restores inside backup.allowedStorage, on the metasrv and again on the node', async () => {
    const cluster = await clusters.start({ nodes: 1, initialRegions: 1 });
    const m = cluster.metasrvUrl;
    const client = new RegionStoreClient({ metasrv: m });
    await client.put(Buffer.from('k'), Buffer.from('v'));
    for (const storage of ['local://../../etc', 'local:///etc', 'local:///tmp/elsewhere']) {
      const backup = await post(`${m}/admin/backup`, JSON.stringify({ storage, endVersion: '1' }));
      expect([storage, backup.status]).toEqual([storage, 403]);
      expect(((await backup.json()) as { code: string; message: string }).message).not.toMatch(
        /EEXIST|ENOENT/,
      );
      const restore = await post(`${m}/admin/restore`, JSON.stringify({ storage }));
      expect([storage, restore.status]).toEqual([storage, 403]);
    }
    expect(await client.admin('/admin/backups')).toEqual({ backups: [] }); // no record for a refusal

    // the node checks again: a restore job put straight on its queue cannot read /etc
    const names = new QueueNames(cluster.prefix);
    const connection = createRedis(testRedisUrl(), 'worker');
    const queue = new Queue(names.node('node-1'), { connection, prefix: names.bullmqPrefix });
    const eventsConnection = connection.duplicate();
    const events = new QueueEvents(names.node('node-1'), {
      connection: eventsConnection,
      prefix: names.bullmqPrefix,
    });
    try {
      await events.waitUntilReady();
      const job = await queue.add('restore', {
        storage: 'local:///etc',
        files: [],
        ranges: [{ start: '', end: '' }],
        verified: true,
      });
      await expect(job.waitUntilFinished(events, 20_000)).rejects.toThrow(/"code":"Forbidden"/);
    } finally {
      await events.close();
      await queue.close();
      connection.disconnect();
      eventsConnection.disconnect();
    }

    // a second backup to the same place would overwrite the first one's backupmeta: refused
    const storage = `local://${clusters.scratch('twice')}`;
    // read at the metasrv's clock, which the record names for an incremental backup to start from
    expect(await client.backup({ storage })).toMatchObject({
      status: 'Done',
      endVersion: expect.stringMatching(/^\d+$/),
    });
    await expect(client.backup({ storage })).rejects.toMatchObject({
      code: 'InvalidArgument',
      message: expect.stringMatching(/already holds a backup/),
    });
    await cluster.stop();
  });
});

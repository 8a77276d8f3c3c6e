import { connect } from 'node:net';
import { once } from 'node:events';
import { createMetricsRegistry } from '@regionstore/runtime';
import { errorFromResponse } from '@regionstore/protocol';
import type { WorkerGroup } from '@regionstore/worker-group';
import { DataApiServer } from '../src/plugins/data-api-plugin';
import type { RegionReader } from '../src/reads';

/** Waits until `text` holds `count` complete HTTP responses (each body's length is in its header). */
function responses(text: string): Array<{ status: number; body: string }> {
  const found: Array<{ status: number; body: string }> = [];
  let rest = text;
  for (;;) {
    const head = rest.indexOf('\r\n\r\n');
    if (head < 0) return found;
    const header = rest.slice(0, head);
    const length = Number(/content-length: (\d+)/i.exec(header)?.[1] ?? 0);
    if (rest.length < head + 4 + length) return found;
    found.push({ status: Number(header.split(' ')[1]), body: rest.slice(head + 4, head + 4 + length) });
    rest = rest.slice(head + 4 + length);
  }
}

describe('a storage node closing its data API', () => {
  it('refuses requests that reach it while closing, unrun and in our error shape', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let reads = 0;
    // A read held open keeps the server closing while a second request arrives on the same connection.
    const reader = {
      get: async () => {
        reads++;
        await gate;
        return Buffer.from('v');
      },
    } as unknown as RegionReader;
    const server = new DataApiServer({ host: '127.0.0.1', port: 0, bodyLimitBytes: 4096 }, undefined);
    await server.listen({
      group: () => ({}) as WorkerGroup,
      reader,
      metrics: createMetricsRegistry({ defaultMetrics: false }),
    });
    const { port } = new URL(server.address);
    const socket = connect(Number(port), '127.0.0.1');
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    await once(socket, 'connect');
    const get = JSON.stringify({ regionId: '2:1', key: Buffer.from('k').toString('base64') });
    const request = `POST /v1/get HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\nContent-Length: ${get.length}\r\n\r\n${get}`;
    socket.write(request);
    while (reads === 0) await new Promise((resolve) => setTimeout(resolve, 5));

    const closed = server.close();
    socket.write(request);
    await new Promise((resolve) => setTimeout(resolve, 100));
    release();
    await closed;
    while (responses(received).length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    socket.destroy();

    const [first, second] = responses(received);
    expect(first!.status).toBe(200);
    expect(reads).toBe(1);
    expect(second!.status).toBe(503);
    const err = errorFromResponse(second!.status, JSON.parse(second!.body));
    expect(err.code).toBe('WorkerStopped');
    // Not a ServerIsBusy with an HTTP status: the client sends a write again as a first attempt.
    expect(err.details).toEqual({});
  });
});

import { createLogger } from '@regionstore/runtime';
import {
  REQUEST_ID_HEADER,
  installErrorHandler,
  installRequestLogging,
  requestIdOptions,
} from '@regionstore/http';
import Fastify from 'fastify';

describe('installRequestLogging', () => {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const app = Fastify(requestIdOptions);
  installErrorHandler(app);
  installRequestLogging(app, logger);
  app.get('/ok/:id', async () => ({ ok: true }));
  app.get('/boom', async () => {
    throw new Error('kaput');
  });
  afterAll(() => app.close());

  it("answers with the caller's request id and logs each request at debug level", async () => {
    const res = await app.inject({
      method: 'GET',
      url: '/ok/7?x=1',
      headers: { [REQUEST_ID_HEADER]: 'abc-1' },
    });
    expect(res.headers[REQUEST_ID_HEADER]).toBe('abc-1');
    expect(lines.at(-1)).toMatchObject({
      level: 20,
      msg: 'request',
      reqId: 'abc-1',
      method: 'GET',
      path: '/ok/:id',
      status: 200,
    });
    // An id that is not a sane token is replaced, not echoed.
    const odd = await app.inject({
      method: 'GET',
      url: '/ok/1',
      headers: { [REQUEST_ID_HEADER]: 'a b\n<c>' },
    });
    expect(odd.headers[REQUEST_ID_HEADER]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('logs a 5xx at error level with the error that caused it', async () => {
    const res = await app.inject({ method: 'GET', url: '/boom' });
    expect(res.statusCode).toBe(500);
    const line = lines.at(-1)!;
    expect(line).toMatchObject({
      level: 50,
      msg: 'request failed',
      status: 500,
      reqId: res.headers[REQUEST_ID_HEADER],
    });
    expect((line['err'] as { message: string }).message).toBe('kaput');
  });
});

import { NotLeaderError } from '@regionstore/core';
import { installErrorHandler, parseBody } from '@regionstore/http';
import Fastify from 'fastify';
import { z } from 'zod';

describe('installErrorHandler', () => {
  const app = Fastify({ bodyLimit: 100 });
  installErrorHandler(app);
  app.post('/echo', async (request) => parseBody(z.object({ n: z.number().int() }), request.body));
  app.get('/leader', async () => {
    throw new NotLeaderError('not me', { leader: 'node-2' });
  });
  app.get('/boom', async () => {
    throw new Error('kaput');
  });
  afterAll(() => app.close());

  it('maps typed errors to their status and body', async () => {
    const res = await app.inject({ method: 'GET', url: '/leader' });
    expect(res.statusCode).toBe(421);
    expect(res.json()).toEqual({ code: 'NotLeader', message: 'not me', details: { leader: 'node-2' } });
  });

  it('answers bad input with InvalidArgument naming the field, malformed JSON and big bodies too', async () => {
    const bad = await app.inject({ method: 'POST', url: '/echo', payload: { n: 'x' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/^invalid request: n: /);
    const malformed = await app.inject({
      method: 'POST',
      url: '/echo',
      payload: '{"n":',
      headers: { 'content-type': 'application/json' },
    });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().code).toBe('InvalidArgument');
    const big = await app.inject({ method: 'POST', url: '/echo', payload: { n: 1, pad: 'x'.repeat(200) } });
    expect(big.statusCode).toBe(413);
    expect(big.json().code).toBe('InvalidArgument');
    expect((await app.inject({ method: 'POST', url: '/echo', payload: { n: 3 } })).json()).toEqual({ n: 3 });
  });

  it('hides nothing and crashes nothing on unexpected errors and unknown routes', async () => {
    const boom = await app.inject({ method: 'GET', url: '/boom' });
    expect(boom.statusCode).toBe(500);
    expect(boom.json()).toMatchObject({ code: 'Internal', message: 'kaput' });
    const missing = await app.inject({ method: 'GET', url: '/nope' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('NotFound');
  });
});

import { RegionStoreClient } from '@regionstore/client';
import { acceptMsgpack } from '@regionstore/http';
import { MSGPACK_CONTENT_TYPE, jsonWire, packWire } from '@regionstore/protocol';
import Fastify, { type FastifyInstance } from 'fastify';

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** Bytes as the fake keeps them: base64, whichever format they came in. */
const text = (bytes: string | Uint8Array) =>
  typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('base64');

/**
 * A stand-in cluster on one HTTP server: `/v1/routes` like the metasrv, `/v1/*` like a node (JSON or
 * msgpack, answering in the format it was asked in). The test moves the region between "nodes" (URL
 * prefixes) to check the client's routing and retries.
 */
async function fakeCluster() {
  const app: FastifyInstance = Fastify();
  acceptMsgpack(app);
  const formats = new Set<string>();
  /** The authorization header of every call, by who got it. */
  const auth = { routes: new Set<string>(), nodes: new Set<string>() };
  const state = {
    leader: 'a',
    confVer: 1,
    data: new Map<string, string>(),
    routeCalls: 0,
    failWith: undefined as undefined | string,
    /** The details of the `failWith` error. */
    failDetails: {} as Record<string, unknown>,
    /** The next this many node requests get what a closing fastify server answers (its own 503). */
    closingAnswers: 0,
    /** Only writes of this key alone fail with `failWith`. */
    failKey: undefined as string | undefined,
    /** How many more calls fail with `failWith` (then it is cleared); unset: all of them. */
    failTimes: undefined as number | undefined,
    /** The id fields of every write command the nodes got. */
    writes: [] as Array<{ writeId?: string; firstSentMs?: number; retry?: boolean }>,
    /** Node calls answer only after this long (a stalled node). */
    stallMs: 0,
    nodeCalls: 0,
    /** Commands per `/v1/batch` request. */
    batchSizes: [] as number[],
    /** Once set, region 1:0 has split here (epoch version 2) and 1:1 holds the keys from it on. */
    splitAt: undefined as string | undefined,
  };
  const base = () => `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  app.get('/v1/routes', async (request) => {
    auth.routes.add(request.headers.authorization ?? '');
    state.routeCalls++;
    const region = (regionId: string, start: string, end: string, version: number) => ({
      regionId,
      start,
      end,
      epoch: { version, confVer: state.confVer },
      leader: state.leader,
      address: `${base()}/${state.leader}`,
      state: 'Normal',
    });
    if (state.splitAt === undefined) return { routes: [region('1:0', '', '', 1)] };
    const at = b64(state.splitAt);
    return { routes: [region('1:0', '', at, 2), region('1:1', at, '', 2)] };
  });
  type Command = {
    regionId?: string;
    epoch?: { version: number; confVer: number };
    mutations?: Array<{ key: string | Uint8Array; value?: string | Uint8Array }>;
    key?: string | Uint8Array;
    writeId?: string;
    firstSentMs?: number;
    retry?: boolean;
  };
  /** One command's answer as `[status, body]`, the same whether it came alone or in a batch. */
  const run = (
    node: string,
    op: string,
    body: Command,
    msgpack: boolean,
  ): [number, Record<string, unknown>] => {
    const fail = (status: number, code: string, message: string, details = {}) =>
      [status, { code, message, details }] as [number, Record<string, unknown>];
    if (op === 'write')
      state.writes.push({ writeId: body.writeId, firstSentMs: body.firstSentMs, retry: body.retry });
    const keys = (body.mutations ?? []).map((m) => text(m.key));
    const exempt = state.failKey !== undefined && !(keys.length === 1 && keys[0] === b64(state.failKey));
    if (state.failWith && !exempt) {
      if (state.failTimes !== undefined && --state.failTimes === 0) {
        const failed = fail(400, state.failWith, 'bad', state.failDetails);
        state.failWith = undefined;
        state.failTimes = undefined;
        return failed;
      }
      return fail(400, state.failWith, 'bad', state.failDetails);
    }
    if (node !== state.leader) return fail(421, 'NotLeader', 'moved');
    if (body.epoch && body.epoch.confVer !== state.confVer) return fail(409, 'EpochNotMatch', 'stale');
    if (state.splitAt !== undefined && body.epoch?.version !== 2) return fail(409, 'EpochNotMatch', 'split');
    if (op === 'write') {
      if (state.splitAt !== undefined) {
        const upper = (key: string | Uint8Array) =>
          Buffer.from(text(key), 'base64').toString() >= state.splitAt!;
        if ((body.mutations ?? []).some((m) => upper(m.key) !== (body.regionId === '1:1')))
          return fail(400, 'KeyNotInRange', 'not in this region');
      }
      if ((body.mutations ?? []).some((m) => text(m.key) === b64('refused'))) {
        return fail(400, 'InvalidArgument', 'refused key');
      }
      for (const m of body.mutations ?? []) state.data.set(text(m.key), text(m.value ?? ''));
      return [200, { commitTs: 42n, entryId: 1 }];
    }
    const stored = state.data.get(text(body.key ?? ''));
    if (stored === undefined) return [200, { value: null }];
    return [200, { value: msgpack ? Buffer.from(stored, 'base64') : stored }];
  };
  app.post('/:node/v1/:op', async (request, reply) => {
    const { node, op } = request.params as { node: string; op: string };
    auth.nodes.add(request.headers.authorization ?? '');
    state.nodeCalls++;
    if (state.stallMs > 0) await new Promise((r) => setTimeout(r, state.stallMs));
    const msgpack = request.headers['content-type'] === MSGPACK_CONTENT_TYPE;
    formats.add(msgpack ? 'msgpack' : 'json');
    if (state.closingAnswers > 0) {
      state.closingAnswers--;
      return reply.status(503).send({ statusCode: 503, error: 'Service Unavailable', message: 'closing' });
    }
    const answer = (value: Record<string, unknown>) =>
      msgpack ? reply.type(MSGPACK_CONTENT_TYPE).send(packWire(value)) : jsonWire(value);
    if (op === 'batch') {
      const { commands } = request.body as { commands: Array<Command & { type: string }> };
      state.batchSizes.push(commands.length);
      const results = commands.map((command) => {
        const [status, body] = run(node, command.type, command, msgpack);
        return status === 200 ? { ok: body } : { error: body };
      });
      return answer({ results });
    }
    const [status, body] = run(node, op, request.body as Command, msgpack);
    if (status !== 200) return reply.status(status).send(body);
    return answer(body);
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, state, formats, auth, url: base() };
}

describe.each(['msgpack', 'json'] as const)('RegionStoreClient, %s bodies', (wire) => {
  it('routes to the leader and follows a moved region by refreshing its routes', async () => {
    const cluster = await fakeCluster();
    const client = new RegionStoreClient({ metasrv: cluster.url, retryTimeoutMs: 5000, wire });
    expect(await client.put(Buffer.from('k'), Buffer.from('v'))).toEqual({ commitTs: 42n });
    // failover: the region moves to node b at a new epoch; the client still has the old route
    cluster.state.leader = 'b';
    cluster.state.confVer = 2;
    const calls = cluster.state.routeCalls;
    expect((await client.get(Buffer.from('k')))?.toString()).toBe('v');
    expect(cluster.state.routeCalls).toBeGreaterThan(calls);
    await client.put(Buffer.from('k2'), Buffer.from('v2'));
    expect(cluster.state.data.get(b64('k2'))).toBe(b64('v2'));
    expect([...cluster.formats]).toEqual([wire]);
    await cluster.app.close();
  });

  it('splits a write again by region when refreshed routes show its region split', async () => {
    const cluster = await fakeCluster();
    const client = new RegionStoreClient({ metasrv: cluster.url, retryTimeoutMs: 5000, wire });
    try {
      await client.put(Buffer.from('a'), Buffer.from('0')); // routes cached: one region
      cluster.state.splitAt = 'm';
      await client.write([
        { op: 'put', key: Buffer.from('b'), value: Buffer.from('1') },
        { op: 'put', key: Buffer.from('x'), value: Buffer.from('2') },
      ]);
      expect(cluster.state.data.get(b64('b'))).toBe(b64('1'));
      expect(cluster.state.data.get(b64('x'))).toBe(b64('2'));
      // The write went out as part 0 of its call, then as two parts of that part.
      const [whole, ...parts] = cluster.state.writes.slice(1).map((w) => w.writeId!);
      expect(whole).toMatch(/\/0$/);
      expect(new Set(parts)).toEqual(new Set([`${whole}/0`, `${whole}/1`]));
    } finally {
      await client.close();
      await cluster.app.close();
    }
  });

  it('coalesces concurrent calls to a node into one batch (msgpack); each call keeps its own answer', async () => {
    const cluster = await fakeCluster();
    const client = new RegionStoreClient({ metasrv: cluster.url, retryTimeoutMs: 5000, wire });
    await client.routes();
    const calls = cluster.state.nodeCalls;
    const outcomes = await Promise.allSettled([
      ...Array.from({ length: 20 }, (_, i) => client.put(Buffer.from(`k${i}`), Buffer.from(`v${i}`))),
      client.put(Buffer.from('refused'), Buffer.from('x')),
      client.get(Buffer.from('missing')),
    ]);
    expect(outcomes.slice(0, 20).every((o) => o.status === 'fulfilled')).toBe(true);
    expect(outcomes[20]).toMatchObject({ status: 'rejected', reason: { code: 'InvalidArgument' } });
    expect(outcomes[21]).toEqual({ status: 'fulfilled', value: undefined });
    expect(cluster.state.data.get(b64('k7'))).toBe(b64('v7'));
    // msgpack: one request for all 22 calls; JSON: one request each.
    expect(cluster.state.nodeCalls - calls).toBe(wire === 'msgpack' ? 1 : 22);
    expect(cluster.state.batchSizes).toEqual(wire === 'msgpack' ? [22] : []);
    await client.close();
    await cluster.app.close();
  });

  it('takes strings and Uint8Arrays for keys and values (their UTF-8 bytes), and answers Buffers', async () => {
    const cluster = await fakeCluster();
    const client = new RegionStoreClient({ metasrv: cluster.url, retryTimeoutMs: 5000, wire });
    await client.put('greeting', 'héllo');
    await client.write([
      { op: 'put', key: new Uint8Array([1, 2]), value: 'bytes' },
      { op: 'put', key: 'other', value: Buffer.from('buf') },
    ]);
    expect(cluster.state.data.get(b64('greeting'))).toBe(Buffer.from('héllo').toString('base64'));
    const got = await client.get('greeting');
    expect(Buffer.isBuffer(got) && got.toString()).toBe('héllo');
    expect((await client.get(Buffer.from([1, 2])))?.toString()).toBe('bytes');
    await client.close();
    await cluster.app.close();
  });

  it('sends its token to the nodes and the metasrv; headers override it for the metasrv', async () => {
    const cluster = await fakeCluster();
    try {
      const client = new RegionStoreClient({ metasrv: cluster.url, token: 'shared-secret', wire });
      await client.put(Buffer.from('k'), Buffer.from('v'));
      expect((await client.get(Buffer.from('k')))?.toString()).toBe('v');
      expect([...cluster.auth.nodes]).toEqual(['Bearer shared-secret']);
      expect([...cluster.auth.routes]).toEqual(['Bearer shared-secret']);
      const separate = new RegionStoreClient({
        metasrv: cluster.url,
        token: 'data-secret',
        headers: { authorization: 'Bearer admin-secret' },
        wire,
      });
      await separate.get(Buffer.from('k'));
      expect(cluster.auth.nodes).toContain('Bearer data-secret');
      expect(cluster.auth.routes).toContain('Bearer admin-secret');
      expect(cluster.auth.routes).not.toContain('Bearer data-secret');
    } finally {
      await cluster.app.close();
    }
  });

  it('abandons a request not answered within requestTimeoutMs and retries it like a lost connection', async () => {
    const cluster = await fakeCluster();
    try {
      const client = new RegionStoreClient({ metasrv: cluster.url, requestTimeoutMs: 100, wire });
      await client.put(Buffer.from('k'), Buffer.from('v'));
      cluster.state.stallMs = 1000;
      const calls = cluster.state.nodeCalls;
      const got = client.get(Buffer.from('k'));
      setTimeout(() => (cluster.state.stallMs = 0), 300);
      expect((await got)?.toString()).toBe('v');
      expect(cluster.state.nodeCalls - calls).toBeGreaterThan(1);
      await client.close();
    } finally {
      cluster.state.stallMs = 0;
      await cluster.app.close();
    }
  });

  it('stops at once, with Cancelled, when the caller aborts', async () => {
    const cluster = await fakeCluster();
    try {
      const abort = new AbortController();
      const client = new RegionStoreClient({ metasrv: cluster.url, signal: abort.signal, wire });
      await client.put(Buffer.from('k'), Buffer.from('v'));
      cluster.state.stallMs = 1000;
      const started = Date.now();
      const got = client.get(Buffer.from('k'));
      setTimeout(() => abort.abort(), 100);
      await expect(got).rejects.toMatchObject({ code: 'Cancelled' });
      expect(Date.now() - started).toBeLessThan(900);
      await client.close();
    } finally {
      await cluster.app.close();
    }
  });

  it('does not retry errors a new route cannot fix, and gives up with Timeout after retryTimeoutMs', async () => {
    const cluster = await fakeCluster();
    const client = new RegionStoreClient({ metasrv: cluster.url, retryTimeoutMs: 300, wire });
    cluster.state.failWith = 'InvalidArgument';
    await expect(client.get(Buffer.from('k'))).rejects.toMatchObject({ code: 'InvalidArgument' });
    cluster.state.failWith = undefined;
    await client.routes(true);
    await cluster.app.close(); // every node and the metasrv gone: network errors until the deadline
    const stuck = client;
    await expect(stuck.get(Buffer.from('k'))).rejects.toMatchObject({ code: 'Timeout' });
  });
});

describe.each(['msgpack', 'json'] as const)('RegionStoreClient writes, %s bodies', (wire) => {
  it('re-sends a write whose WAL append may have landed (outcome unknown) with its id, saying since when', async () => {
    const cluster = await fakeCluster();
    const client = new RegionStoreClient({ metasrv: cluster.url, retryTimeoutMs: 5000, wire });
    await client.routes(true);
    cluster.state.failWith = 'ServerIsBusy';
    cluster.state.failDetails = { outcome: 'unknown' };
    cluster.state.failTimes = 2;
    const began = Date.now();
    expect(await client.put(Buffer.from('k'), Buffer.from('v'))).toEqual({ commitTs: 42n });
    const [first, ...again] = cluster.state.writes;
    expect(first!.writeId).toMatch(/^[\w-]{12}\.[0-9a-z]+\/0$/);
    expect(first!.firstSentMs).toBeGreaterThanOrEqual(began);
    expect(first!.firstSentMs).toBeLessThanOrEqual(Date.now());
    expect(first!.retry).toBeUndefined();
    expect(again).toEqual([
      { writeId: first!.writeId, firstSentMs: first!.firstSentMs, retry: true },
      { writeId: first!.writeId, firstSentMs: first!.firstSentMs, retry: true },
    ]);
    // Each write call has an id of its own; one that never failed is no re-send.
    await client.put(Buffer.from('k'), Buffer.from('v2'));
    expect(cluster.state.writes[3]!.writeId).not.toBe(first!.writeId);
    expect(cluster.state.writes[3]!.retry).toBeUndefined();
    await cluster.app.close();
  });

  it('gives each region’s part of a write its own id, and re-sends only the part that may have landed as such', async () => {
    const cluster = await fakeCluster();
    cluster.state.splitAt = 'm';
    const client = new RegionStoreClient({ metasrv: cluster.url, retryTimeoutMs: 5000, wire });
    await client.routes(true);
    cluster.state.failWith = 'ServerIsBusy';
    cluster.state.failDetails = { outcome: 'unknown' };
    cluster.state.failTimes = 1;
    await client.write([
      { op: 'put', key: Buffer.from('a'), value: Buffer.from('1') },
      { op: 'put', key: Buffer.from('z'), value: Buffer.from('2') },
    ]);
    const [failed, other, resent] = cluster.state.writes;
    const call = failed!.writeId!.split('/')[0];
    expect(new Set([failed!.writeId, other!.writeId])).toEqual(new Set([`${call}/0`, `${call}/1`]));
    expect(other!.retry).toBeUndefined();
    expect(resent!.writeId).toBe(failed!.writeId);
    expect(resent!.retry).toBe(true);
    expect(cluster.state.writes).toHaveLength(3);
    await cluster.app.close();
  });

  it('gives up at once when the region cannot tell whether the write landed, and a route error is no reason to say retry', async () => {
    const cluster = await fakeCluster();
    const client = new RegionStoreClient({ metasrv: cluster.url, retryTimeoutMs: 5000, wire });
    await client.routes(true);
    cluster.state.failWith = 'ServerIsBusy';
    cluster.state.failDetails = { outcome: 'unknown', final: true };
    await expect(client.put(Buffer.from('k'), Buffer.from('v'))).rejects.toMatchObject({
      code: 'ServerIsBusy',
      details: { outcome: 'unknown', final: true },
    });
    expect(cluster.state.nodeCalls).toBe(1);
    cluster.state.failWith = 'NotLeader';
    cluster.state.failDetails = {};
    cluster.state.failTimes = 1;
    await client.put(Buffer.from('k'), Buffer.from('v'));
    expect(cluster.state.writes.slice(1).map((w) => w.retry)).toEqual([undefined, undefined]);
    await cluster.app.close();
  });

  it('re-sends, as a retry, a write whose node answered as a closing server does', async () => {
    const cluster = await fakeCluster();
    const client = new RegionStoreClient({ metasrv: cluster.url, retryTimeoutMs: 5000, wire });
    await client.routes(true);
    cluster.state.closingAnswers = 1;
    expect(await client.put(Buffer.from('k'), Buffer.from('v'))).toEqual({ commitTs: 42n });
    expect(cluster.state.writes).toHaveLength(1); // the first never reached the fake's commands
    expect(cluster.state.writes[0]!.retry).toBe(true);
    await cluster.app.close();
  });

  it('sends a write spread over regions by a split as its parts from then on, never again as a whole', async () => {
    const cluster = await fakeCluster();
    const client = new RegionStoreClient({ metasrv: cluster.url, retryTimeoutMs: 120_000, wire });
    await client.routes(true); // one region
    cluster.state.splitAt = 'm';
    cluster.state.failWith = 'ServerIsBusy';
    cluster.state.failDetails = { outcome: 'unknown' };
    cluster.state.failKey = 'z';
    const start = Date.now();
    const clock = jest.spyOn(Date, 'now');
    let looks = 0;
    clock.mockImplementation(() => start + 1_000 * looks++);
    try {
      await expect(
        client.write([
          { op: 'put', key: Buffer.from('a'), value: Buffer.from('1') },
          { op: 'put', key: Buffer.from('z'), value: Buffer.from('2') },
        ]),
      ).rejects.toMatchObject({ details: { outcome: 'unknown' } });
    } finally {
      clock.mockRestore();
    }
    // Once as a whole (refused: the region split), then its parts; the `z` part gave up at the window,
    // and the whole was not spread and sent again.
    const [whole, ...parts] = cluster.state.writes.map((w) => w.writeId!);
    expect(parts.filter((id) => id === `${whole}/0`)).toHaveLength(1);
    expect(parts.every((id) => id === `${whole}/0` || id === `${whole}/1`)).toBe(true);
    expect(parts.filter((id) => id === `${whole}/1`).length).toBeGreaterThan(1);
    await cluster.app.close();
  });

  it('stops re-sending a write that may have landed once the nodes may have forgotten its id', async () => {
    const cluster = await fakeCluster();
    const client = new RegionStoreClient({ metasrv: cluster.url, retryTimeoutMs: 120_000, wire });
    await client.routes(true);
    cluster.state.failWith = 'ServerIsBusy';
    cluster.state.failDetails = { outcome: 'unknown' };
    const start = Date.now();
    const clock = jest.spyOn(Date, 'now');
    // Each look at the clock is 10 s later: the window (30 s) is over within a few attempts.
    let looks = 0;
    clock.mockImplementation(() => start + 10_000 * looks++);
    try {
      await expect(client.put(Buffer.from('k'), Buffer.from('v'))).rejects.toMatchObject({
        details: { outcome: 'unknown' },
      });
    } finally {
      clock.mockRestore();
    }
    expect(cluster.state.nodeCalls).toBeGreaterThan(1);
    expect(cluster.state.nodeCalls).toBeLessThan(6);
    // A plain ServerIsBusy (nothing was written) is retried until the deadline.
    const quick = new RegionStoreClient({ metasrv: cluster.url, retryTimeoutMs: 300, wire });
    cluster.state.failDetails = {};
    await expect(quick.put(Buffer.from('k'), Buffer.from('v'))).rejects.toMatchObject({ code: 'Timeout' });
    await cluster.app.close();
  });
});

describe('RegionStoreClient admin calls', () => {
  /** A metasrv whose lease is changing hands for the first `standbyAnswers` calls. */
  async function metasrv(standbyAnswers: number) {
    const app = Fastify();
    const seen: Array<{ method: string; body: unknown; auth: unknown }> = [];
    app.route({
      method: ['GET', 'POST'],
      url: '/admin/maintenance',
      handler: async (request, reply) => {
        seen.push({ method: request.method, body: request.body, auth: request.headers.authorization });
        if (request.method === 'POST' && typeof (request.body as { enabled?: unknown }).enabled !== 'boolean')
          return reply
            .status(400)
            .send({ code: 'InvalidArgument', message: 'enabled: boolean', details: {} });
        if (seen.length <= standbyAnswers) {
          return reply
            .status(421)
            .send({ code: 'NotLeader', message: 'this metasrv is a standby', details: { leader: null } });
        }
        return { enabled: true };
      },
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    return { app, seen, url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}` };
  }

  it('retries while the metasrv has no leader, with the configured headers, then answers', async () => {
    const m = await metasrv(3);
    try {
      const client = new RegionStoreClient({
        metasrv: m.url,
        retryTimeoutMs: 10_000,
        headers: { authorization: 'Bearer t' },
      });
      expect(await client.admin('/admin/maintenance', { enabled: true })).toEqual({ enabled: true });
      expect(m.seen).toHaveLength(4);
      expect(m.seen.every((s) => s.method === 'POST' && s.auth === 'Bearer t')).toBe(true);
      expect(m.seen[3]!.body).toEqual({ enabled: true });
    } finally {
      await m.app.close();
    }
  });

  it('gives up with Timeout when no leader appears, and does not retry other errors', async () => {
    const m = await metasrv(Infinity);
    try {
      const client = new RegionStoreClient({ metasrv: m.url, retryTimeoutMs: 300 });
      await expect(client.admin('/admin/maintenance')).rejects.toMatchObject({ code: 'Timeout' });
      const calls = m.seen.length;
      await expect(client.admin('/admin/maintenance', { enabled: 'maybe' })).rejects.toMatchObject({
        code: 'InvalidArgument',
      });
      expect(m.seen).toHaveLength(calls + 1);
    } finally {
      await m.app.close();
    }
  });
});

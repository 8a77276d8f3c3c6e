import { RegionStoreClient } from '@regionstore/client';
import { acceptMsgpack } from '@regionstore/http';
import { MSGPACK_CONTENT_TYPE, jsonWire, packWire } from '@regionstore/protocol';
import Fastify from 'fastify';

/** What the fake nodes keep: one key per region. */
const VALUE = Buffer.from('v');
const READ_TS = 1000n;

interface Seen {
  node: string;
  op: string;
  replicaRead: boolean;
  ts: string | undefined;
}

/**
 * A metasrv and three "nodes" (URL prefixes) on one server: `leader` leads region 1:0, `f1` and `f2`
 * follow it. A follower answers replica reads at READ_TS (DataIsNotReady while it is `lagging`, or for
 * a ts above READ_TS) and refuses others; the leader answers everything. Every read is noted.
 */
async function fakeCluster(options: { followers?: string[] } = {}) {
  const app = Fastify();
  acceptMsgpack(app);
  const followers = options.followers ?? ['f1', 'f2'];
  const lagging = new Set<string>();
  const seen: Seen[] = [];
  const base = () => `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  app.get('/v1/routes', async () => ({
    routes: [
      {
        regionId: '1:0',
        start: '',
        end: '',
        epoch: { version: 1, confVer: 1 },
        leader: 'leader',
        address: `${base()}/leader`,
        state: 'Normal',
        followers: followers.map((id) => ({ id, address: `${base()}/${id}` })),
      },
    ],
  }));
  type Command = { type?: string; replicaRead?: boolean; ts?: string; keys?: unknown[]; start?: unknown };
  const run = (node: string, op: string, body: Command): [number, Record<string, unknown>] => {
    const ts = body.ts === undefined ? undefined : String(body.ts);
    seen.push({ node, op, replicaRead: body.replicaRead === true, ts });
    const fail = (status: number, code: string) =>
      [status, { code, message: code, details: {} }] as [number, Record<string, unknown>];
    if (node !== 'leader') {
      if (!body.replicaRead) return fail(421, 'NotLeader');
      if (lagging.has(node) || (ts !== undefined && BigInt(ts) > READ_TS)) return fail(503, 'DataIsNotReady');
    }
    const readTs = body.replicaRead ? { readTs: ts ?? READ_TS.toString() } : {};
    if (op === 'batch-get') return [200, { values: (body.keys ?? []).map(() => VALUE), ...readTs }];
    if (op === 'scan') {
      // One pair per page: `a` first, then `b`, then nothing.
      const raw = body.start ?? '';
      const start = (
        typeof raw === 'string' ? Buffer.from(raw, 'base64') : Buffer.from(raw as Uint8Array)
      ).toString();
      const key = start === '' ? 'a' : start.startsWith('a') ? 'b' : undefined;
      return [200, { entries: key ? [{ key: Buffer.from(key), value: VALUE }] : [], ...readTs }];
    }
    return [200, { value: VALUE, ...readTs }];
  };
  app.post('/:node/v1/:op', async (request, reply) => {
    const { node, op } = request.params as { node: string; op: string };
    const msgpack = request.headers['content-type'] === MSGPACK_CONTENT_TYPE;
    const answer = (value: Record<string, unknown>) =>
      msgpack ? reply.type(MSGPACK_CONTENT_TYPE).send(packWire(value)) : jsonWire(value);
    if (op === 'batch') {
      const { commands } = request.body as { commands: Command[] };
      const results = commands.map((command) => {
        const [status, body] = run(node, command.type ?? '', command);
        return status === 200 ? { ok: body } : { error: body };
      });
      return answer({ results });
    }
    const [status, body] = run(node, op, request.body as Command);
    if (status !== 200) return reply.status(status).send(body);
    return answer(body);
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, seen, lagging, url: base() };
}

describe.each(['msgpack', 'json'] as const)('RegionStoreClient follower reads, %s bodies', (wire) => {
  let cluster: Awaited<ReturnType<typeof fakeCluster>>;
  let client: RegionStoreClient;
  const setup = async (options?: { followers?: string[] }) => {
    cluster = await fakeCluster(options);
    client = new RegionStoreClient({ metasrv: cluster.url, retryTimeoutMs: 2000, wire });
  };
  afterEach(async () => {
    await client.close();
    await cluster.app.close();
  });

  it('sends { readFrom: "follower" } reads to the followers in turn as replica reads; others to the leader', async () => {
    await setup();
    expect(await client.get('k', { readFrom: 'follower' })).toEqual(VALUE);
    expect(await client.get('k', { readFrom: 'follower' })).toEqual(VALUE);
    expect(await client.batchGet(['k', 'l'], { readFrom: 'follower' })).toEqual([VALUE, VALUE]);
    await client.get('k');
    await client.get('k', { readFrom: 'leader' });
    expect(cluster.seen.map((s) => [s.node, s.op, s.replicaRead])).toEqual([
      ['f1', 'get', true],
      ['f2', 'get', true],
      ['f1', 'batch-get', true],
      ['leader', 'get', false],
      ['leader', 'get', false],
    ]);
  });

  it('falls back to the leader (still a replica read) when the follower is not ready, and keeps the ts', async () => {
    await setup();
    cluster.lagging.add('f1');
    expect(await client.get('k', { readFrom: 'follower', ts: 900n })).toEqual(VALUE);
    expect(cluster.seen).toEqual([
      { node: 'f1', op: 'get', replicaRead: true, ts: '900' },
      { node: 'leader', op: 'get', replicaRead: true, ts: '900' },
    ]);
  });

  it('reads from the leader when the route lists no follower', async () => {
    await setup({ followers: [] });
    expect(await client.get('k', { readFrom: 'follower' })).toEqual(VALUE);
    expect(cluster.seen.map((s) => [s.node, s.replicaRead])).toEqual([['leader', true]]);
  });

  it('scans every page after the first at the ts the first was served at', async () => {
    await setup();
    const pairs = await client.scan({ readFrom: 'follower', pageSize: 1 });
    expect(pairs.map((p) => p.key.toString())).toEqual(['a', 'b']);
    const scans = cluster.seen.filter((s) => s.op === 'scan');
    expect(scans.map((s) => [s.replicaRead, s.ts])).toEqual([
      [true, undefined],
      [true, READ_TS.toString()],
      [true, READ_TS.toString()],
    ]);
  });
});

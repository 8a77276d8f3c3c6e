import { join } from 'node:path';
import { RegionId, keyRange } from '@regionstore/core';
import { createMetricsRegistry } from '@regionstore/runtime';
import { RocksEngine } from '@regionstore/engine';
import { MSGPACK_CONTENT_TYPE, packWire, unpackWire } from '@regionstore/protocol';
import { RedisLogStore } from '@regionstore/log-store';
import { RegionRunner } from '@regionstore/region-runner';
import { LocalStorage } from '@regionstore/storage-backends';
import { useRedisNamespace, useTempDir } from '@regionstore/testing';
import { WorkerGroup } from '@regionstore/worker-group';
import type { FastifyInstance } from 'fastify';
import { buildDataApi } from '../src/http-api';
import { RegionReader } from '../src/reads';
import { RegionLeases } from '../src/region-leases';

const dir = useTempDir('data-api');
const ns = useRedisNamespace('data-api');
const b64 = (s: string) => Buffer.from(s).toString('base64');
const EPOCH = { version: 1, confVer: 1 };
const LEADER = new RegionId(2, 1);
const FOLLOWER = new RegionId(2, 2);

describe('storage node data API', () => {
  let clock = 0;
  const leases = new RegionLeases(() => clock);
  leases.accept({ seq: leases.nextHeartbeat(), leaseMs: 2000, regions: [LEADER.toString()] });
  let engine: RocksEngine;
  let runner: RegionRunner;
  let group: WorkerGroup;
  let wal: RedisLogStore;
  let app: FastifyInstance;

  const metrics = createMetricsRegistry({ defaultMetrics: false });

  beforeAll(async () => {
    engine = await RocksEngine.open({ path: join(dir.path, 'db') });
    const storage = new LocalStorage(join(dir.path, 'objects'));
    runner = new RegionRunner({ engine, storage });
    wal = new RedisLogStore(await ns.connect(), { prefix: ns.prefix });
    group = WorkerGroup.start({
      nodeId: 'n1',
      engine,
      wal,
      storage,
      runner,
      metrics,
    });
    await group.ddl(LEADER, {
      type: 'create',
      range: keyRange(Buffer.from('a'), Buffer.from('m')),
      epoch: EPOCH,
    });
    await group.ddl(FOLLOWER, {
      type: 'open',
      range: keyRange(Buffer.from('m'), Buffer.alloc(0)),
      epoch: EPOCH,
      role: 'Follower',
    });
    app = buildDataApi({
      group: () => group,
      reader: new RegionReader(() => group, engine, 'n1', leases),
      metrics,
      isReady: () => true,
      bodyLimitBytes: 4096,
    });
  });
  afterAll(async () => {
    await app.close();
    await group.stop();
    await wal.close();
    await runner.stop();
    await engine.close();
  });

  const post = (url: string, payload: unknown) =>
    app.inject({ method: 'POST', url, payload: payload as object });

  it('writes, then reads with get, batch get and scan in both directions', async () => {
    const write = await post('/v1/write', {
      regionId: '2:1',
      epoch: EPOCH,
      mutations: ['apple', 'banana', 'cherry'].map((k) => ({ op: 'put', key: b64(k), value: b64(`${k}!`) })),
    });
    expect(write.statusCode).toBe(200);
    expect(write.json()).toMatchObject({ entryId: 1 });
    const commitTs = BigInt(write.json().commitTs);
    await post('/v1/write', { regionId: '2:1', mutations: [{ op: 'delete', key: b64('banana') }] });

    expect((await post('/v1/get', { regionId: '2:1', key: b64('apple') })).json()).toEqual({
      value: b64('apple!'),
    });
    expect((await post('/v1/get', { regionId: '2:1', key: b64('banana') })).json()).toEqual({ value: null });
    // as of the first write, banana was there
    expect(
      (await post('/v1/get', { regionId: '2:1', key: b64('banana'), ts: commitTs.toString() })).json(),
    ).toEqual({
      value: b64('banana!'),
    });
    expect(
      (await post('/v1/batch-get', { regionId: '2:1', keys: [b64('cherry'), b64('kiwi')] })).json(),
    ).toEqual({
      values: [b64('cherry!'), null],
    });
    // From the region's start to past its end: the region's share, and which part that is.
    const scan = await post('/v1/scan', { regionId: '2:1', start: b64('a'), end: b64('z'), limit: 10 });
    expect(scan.json().entries.map((e: { key: string }) => Buffer.from(e.key, 'base64').toString())).toEqual([
      'apple',
      'cherry',
    ]);
    expect(scan.json().scanned).toEqual({ start: b64('a'), end: b64('m') });
    const reverse = await post('/v1/scan', { regionId: '2:1', end: b64('m'), limit: 1, reverse: true });
    expect(
      reverse.json().entries.map((e: { key: string }) => Buffer.from(e.key, 'base64').toString()),
    ).toEqual(['cherry']);
  });

  it('answers a write re-sent with its id from the first attempt, in a batch too, and refuses a bad id', async () => {
    const write = (value: string, extra: object) =>
      post('/v1/write', {
        regionId: '2:1',
        mutations: [{ op: 'put', key: b64('kiwi'), value: b64(value) }],
        ...extra,
      });
    const first = await write('1', { writeId: 'id-once' });
    await write('2', {});
    const again = await write('1', { writeId: 'id-once', firstSentMs: Date.now() - 1000 });
    expect(again.json()).toEqual(first.json());
    const batch = await post('/v1/batch', {
      commands: [
        {
          type: 'write',
          regionId: '2:1',
          mutations: [{ op: 'put', key: b64('kiwi'), value: b64('1') }],
          writeId: 'id-once',
          firstSentMs: Date.now() - 1000,
        },
      ],
    });
    expect(batch.json().results[0].ok).toEqual(first.json());
    expect((await post('/v1/get', { regionId: '2:1', key: b64('kiwi') })).json()).toEqual({
      value: b64('2'),
    });
    const bad = await write('1', { writeId: 'x'.repeat(129) });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'InvalidArgument' });
  });

  it('answers routing errors with typed bodies the client can act on', async () => {
    const cases: Array<[unknown, number, string]> = [
      [{ regionId: '9:9', key: b64('a') }, 404, 'RegionNotFound'],
      [{ regionId: '2:1', key: b64('zzz') }, 409, 'KeyNotInRange'],
      [{ regionId: '2:2', key: b64('zzz') }, 421, 'NotLeader'],
    ];
    for (const [body, status, code] of cases) {
      const res = await post('/v1/get', body);
      expect([res.statusCode, res.json().code]).toEqual([status, code]);
    }
    // A scan must begin in the region (reversed: end in it): its first keys are another region's.
    for (const body of [
      { regionId: '2:1', end: b64('c') },
      { regionId: '2:1', start: b64('m') },
      { regionId: '2:1', start: b64('b'), end: b64('z'), reverse: true },
      { regionId: '2:1', reverse: true },
    ]) {
      const res = await post('/v1/scan', body);
      expect([res.statusCode, res.json().code]).toEqual([409, 'KeyNotInRange']);
    }
    const stale = await post('/v1/write', {
      regionId: '2:1',
      epoch: { version: 1, confVer: 0 },
      mutations: [{ op: 'put', key: b64('b'), value: b64('x') }],
    });
    expect([stale.statusCode, stale.json().code]).toEqual([409, 'EpochNotMatch']);
  });

  it('serves reads of a region it leads only while it holds the lease', async () => {
    const read = () => post('/v1/get', { regionId: '2:1', key: b64('apple') });
    clock = 1999;
    expect((await read()).statusCode).toBe(200);
    clock = 2000; // e.g. the process was paused past its lease: another node may lead the region now
    for (const res of [
      await read(),
      await post('/v1/batch-get', { regionId: '2:1', keys: [b64('apple')] }),
      await post('/v1/scan', { regionId: '2:1', limit: 5 }),
    ]) {
      expect([res.statusCode, res.json().code, res.json().details.reason]).toEqual([
        421,
        'NotLeader',
        'LeaseExpired',
      ]);
    }
    // the next grant, answering a heartbeat sent now, renews it
    leases.accept({ seq: leases.nextHeartbeat(), leaseMs: 2000, regions: ['2:1'] });
    expect((await read()).statusCode).toBe(200);
    clock = 0;
  });

  it('speaks msgpack with raw bytes too, and answers in the format it was asked in', async () => {
    const packed = (url: string, body: unknown) =>
      app.inject({
        method: 'POST',
        url,
        payload: packWire(body),
        headers: { 'content-type': MSGPACK_CONTENT_TYPE },
      });
    const key = Buffer.from([0x62, 0x00, 0xff]); // 'b', then bytes JSON could not carry as text
    const value = Buffer.from([0, 1, 2, 254, 255]);
    const written = await packed('/v1/write', { regionId: '2:1', mutations: [{ op: 'put', key, value }] });
    expect(written.statusCode).toBe(200);
    expect(written.headers['content-type']).toBe(MSGPACK_CONTENT_TYPE);
    expect(unpackWire(written.rawPayload)).toMatchObject({ commitTs: expect.stringMatching(/^\d+$/) });
    const got = unpackWire(
      (await packed('/v1/batch-get', { regionId: '2:1', keys: [key, Buffer.from('c-missing')] })).rawPayload,
    );
    expect(got).toEqual({ values: [value, null] });
    const scanned = unpackWire(
      (await packed('/v1/scan', { regionId: '2:1', start: key, limit: 1 })).rawPayload,
    );
    expect(scanned).toEqual({ entries: [{ key, value }], scanned: { start: key, end: Buffer.from('m') } });
    // the same value read over JSON comes back as base64
    expect((await post('/v1/get', { regionId: '2:1', key: key.toString('base64') })).json()).toEqual({
      value: value.toString('base64'),
    });
    const garbage = await app.inject({
      method: 'POST',
      url: '/v1/write',
      payload: Buffer.from([0xc1, 0xc1]),
      headers: { 'content-type': MSGPACK_CONTENT_TYPE },
    });
    expect([garbage.statusCode, garbage.json().code]).toEqual([400, 'InvalidArgument']);
    const wrongTypes = await packed('/v1/get', { regionId: '2:1', key: 42 });
    expect([wrongTypes.statusCode, wrongTypes.json().code]).toEqual([400, 'InvalidArgument']);
  });

  it('runs a batch of commands for several regions, each answered or failed on its own', async () => {
    const commands = [
      {
        type: 'write',
        regionId: '2:1',
        mutations: [{ op: 'put', key: Buffer.from('bx'), value: Buffer.from('1') }],
      },
      {
        type: 'write',
        regionId: '2:1',
        mutations: [{ op: 'put', key: Buffer.from('zz'), value: Buffer.from('2') }],
      },
      { type: 'get', regionId: '2:2', key: Buffer.from('n') },
      { type: 'get', regionId: '9:9', key: Buffer.from('b') },
    ];
    const packed = await app.inject({
      method: 'POST',
      url: '/v1/batch',
      payload: packWire({ commands }),
      headers: { 'content-type': MSGPACK_CONTENT_TYPE },
    });
    expect(packed.statusCode).toBe(200);
    const { results } = unpackWire(packed.rawPayload) as { results: Array<Record<string, unknown>> };
    expect(results).toHaveLength(4);
    expect(results[0]).toEqual({
      ok: { commitTs: expect.stringMatching(/^\d+$/), entryId: expect.any(Number) },
    });
    expect(results.slice(1).map((r) => (r['error'] as { code: string }).code)).toEqual([
      'KeyNotInRange',
      'NotLeader',
      'RegionNotFound',
    ]);
    // The write landed; reads in one batch (JSON this time) see it, values in base64.
    const json = await post('/v1/batch', {
      commands: [
        { type: 'get', regionId: '2:1', key: b64('bx') },
        { type: 'batch-get', regionId: '2:1', keys: [b64('bx'), b64('c-none')] },
      ],
    });
    expect(json.json()).toEqual({
      results: [{ ok: { value: b64('1') } }, { ok: { values: [b64('1'), null] } }],
    });
    // A malformed command fails the whole request, before any command runs.
    const bad = await post('/v1/batch', { commands: [{ type: 'scan', regionId: '2:1' }] });
    expect([bad.statusCode, bad.json().code]).toEqual([400, 'InvalidArgument']);
    expect((await post('/v1/batch', { commands: [] })).statusCode).toBe(400);
  });

  it('requires the apiToken on the data API when one is set, and leaves health and metrics open', async () => {
    const guarded = buildDataApi({
      group: () => group,
      reader: new RegionReader(() => group, engine, 'n1', leases),
      metrics,
      isReady: () => true,
      bodyLimitBytes: 4096,
      apiToken: 'secret-token',
    });
    try {
      const get = (authorization?: string) =>
        guarded.inject({
          method: 'POST',
          url: '/v1/get',
          payload: { regionId: LEADER.toString(), key: b64('apple') },
          ...(authorization ? { headers: { authorization } } : {}),
        });
      for (const wrong of [undefined, 'Bearer nope', 'secret-token', 'Bearer secret-token-and-more']) {
        const refused = await get(wrong);
        expect(refused.statusCode).toBe(401);
        expect(refused.json()).toMatchObject({
          code: 'Unauthorized',
          message: expect.stringMatching(/apiToken/),
        });
      }
      expect((await get('Bearer secret-token')).statusCode).toBe(200);
      expect((await guarded.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
      expect((await guarded.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
    } finally {
      await guarded.close();
    }
  });

  it('refuses bad input without crashing: malformed JSON, wrong types, oversized bodies', async () => {
    const malformed = await app.inject({
      method: 'POST',
      url: '/v1/write',
      payload: '{"regionId":',
      headers: { 'content-type': 'application/json' },
    });
    expect([malformed.statusCode, malformed.json().code]).toEqual([400, 'InvalidArgument']);
    const wrong = await post('/v1/write', { regionId: 'x', mutations: [] });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().message).toMatch(/regionId/);
    const big = await post('/v1/write', {
      regionId: '2:1',
      mutations: [{ op: 'put', key: b64('b'), value: 'A'.repeat(8000) }],
    });
    expect(big.statusCode).toBe(413);
    expect((await app.inject({ method: 'GET', url: '/health' })).json()).toEqual({ status: 'ok' });
    expect((await app.inject({ method: 'GET', url: '/ready' })).json()).toMatchObject({
      status: 'ready',
      regions: 2,
    });
    expect((await app.inject({ method: 'GET', url: '/metrics' })).body).toContain('regionstore_worker_group');
  });
});

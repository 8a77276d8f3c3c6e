import { join } from 'node:path';
import { RegionId, composeTimestamp, keyRange } from '@regionstore/core';
import { createMetricsRegistry, silentLogger } from '@regionstore/runtime';
import { RocksEngine } from '@regionstore/engine';
import { MSGPACK_CONTENT_TYPE, packWire, unpackWire } from '@regionstore/protocol';
import { RedisLogStore } from '@regionstore/log-store';
import { RegionRunner } from '@regionstore/region-runner';
import { LocalStorage } from '@regionstore/storage-backends';
import { useRedisNamespace, useTempDir } from '@regionstore/testing';
import { WorkerGroup } from '@regionstore/worker-group';
import { buildDataApi } from '../src/http-api';
import { RegionReader } from '../src/reads';
import { RegionLeases } from '../src/region-leases';

const dir = useTempDir('follower-reads');
const ns = useRedisNamespace('follower-reads');
const b64 = (s: string) => Buffer.from(s).toString('base64');
const EPOCH = { version: 1, confVer: 1 };
const REGION = new RegionId(3, 1);
const ID = REGION.toString();
// Followers hear their leader's resolved ts often, so a test waits milliseconds, not seconds.
const FAST = { resolvedTsIntervalMs: 50, followerTailBlockMs: 50 };

/** A storage node's data API over its own RocksDB and WorkerGroup, the WAL on the shared Redis. */
async function startNode(nodeId: string, leases: RegionLeases) {
  const engine = await RocksEngine.open({ path: join(dir.path, `${nodeId}-db`) });
  const storage = new LocalStorage(join(dir.path, 'objects'));
  const runner = new RegionRunner({ engine, storage });
  runner.start();
  const wal = new RedisLogStore(await ns.connect(), { prefix: ns.prefix });
  const metrics = createMetricsRegistry({ defaultMetrics: false });
  const group = WorkerGroup.start({
    nodeId,
    engine,
    wal,
    storage,
    runner,
    metrics,
    config: FAST,
    logger: silentLogger(),
  });
  const app = buildDataApi({
    group: () => group,
    reader: new RegionReader(() => group, engine, nodeId, leases),
    metrics,
    isReady: () => true,
    bodyLimitBytes: 1 << 20,
  });
  const post = (url: string, payload: object) => app.inject({ method: 'POST', url, payload });
  const stop = async () => {
    await app.close();
    await group.stop();
    await runner.stop();
    await wal.close();
    await engine.close();
  };
  return { group, app, post, stop };
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('follower reads', () => {
  let leader: Awaited<ReturnType<typeof startNode>>;
  let follower: Awaited<ReturnType<typeof startNode>>;

  beforeAll(async () => {
    const leases = new RegionLeases(() => 0);
    leases.accept({ seq: leases.nextHeartbeat(), leaseMs: 1e12, regions: [ID] });
    leader = await startNode('leader', leases);
    // The follower's node holds no lease at all: replica reads must not need one.
    follower = await startNode('follower', new RegionLeases());
    await leader.group.ddl(REGION, {
      type: 'create',
      range: keyRange(Buffer.alloc(0), Buffer.alloc(0)),
      epoch: EPOCH,
    });
    await follower.group.ddl(REGION, {
      type: 'open',
      range: keyRange(Buffer.alloc(0), Buffer.alloc(0)),
      epoch: EPOCH,
      role: 'Follower',
    });
  });
  afterAll(async () => {
    await follower?.stop();
    await leader?.stop();
  });

  const put = async (key: string, value: string): Promise<bigint> => {
    const res = await leader.post('/v1/write', {
      regionId: ID,
      mutations: [{ op: 'put', key: b64(key), value: b64(value) }],
    });
    expect(res.statusCode).toBe(200);
    return BigInt(res.json().commitTs);
  };
  const replicaGet = (node: typeof follower, key: string, ts?: bigint) =>
    node.post('/v1/get', {
      regionId: ID,
      key: b64(key),
      replicaRead: true,
      ...(ts === undefined ? {} : { ts: ts.toString() }),
    });

  it('serves a get, batch get and scan on the follower at a ts it applied, at or above the write', async () => {
    await put('apple', 'red');
    // Both writes applied: a read ts between them would (rightly) not see the banana below.
    const commitTs = await put('banana', 'yellow');
    let answer: { value: string | null; readTs: string } = { value: null, readTs: '0' };
    await until(async () => {
      const res = await replicaGet(follower, 'apple');
      if (res.statusCode !== 200) return false;
      answer = res.json();
      return BigInt(answer.readTs) >= commitTs;
    }, 'the follower to apply the writes');
    expect(answer.value).toBe(b64('red'));
    const readTs = BigInt(answer.readTs);
    expect(readTs).toBeLessThanOrEqual(follower.group.getRegion(REGION)!.safeTs);

    // A batch get and a scan at that ts, alone and inside a msgpack /v1/batch.
    const batchGet = await follower.post('/v1/batch-get', {
      regionId: ID,
      keys: [b64('apple'), b64('cherry')],
      replicaRead: true,
      ts: readTs.toString(),
    });
    expect(batchGet.json()).toEqual({ values: [b64('red'), null], readTs: readTs.toString() });
    const scan = await follower.post('/v1/scan', { regionId: ID, replicaRead: true, limit: 10 });
    expect(scan.statusCode).toBe(200);
    expect(scan.json().entries.map((e: { key: string }) => Buffer.from(e.key, 'base64').toString())).toEqual([
      'apple',
      'banana',
    ]);
    expect(BigInt(scan.json().readTs)).toBeGreaterThanOrEqual(readTs);
    const batch = await follower.app.inject({
      method: 'POST',
      url: '/v1/batch',
      payload: packWire({
        commands: [{ type: 'get', regionId: ID, key: Buffer.from('banana'), replicaRead: true, ts: readTs }],
      }),
      headers: { 'content-type': MSGPACK_CONTENT_TYPE },
    });
    expect(unpackWire(batch.rawPayload)).toEqual({
      results: [{ ok: { value: Buffer.from('yellow'), readTs: readTs.toString() } }],
    });
  });

  it('answers the same at a ts later writes land above, as the leader does', async () => {
    await put('pear', 'green');
    let readTs = 0n;
    await until(async () => {
      const res = await replicaGet(follower, 'pear');
      if (res.statusCode !== 200 || res.json().value === null) return false;
      readTs = BigInt(res.json().readTs);
      return true;
    }, 'the follower to apply the write');
    const later = await put('pear', 'brown');
    expect(later).toBeGreaterThan(readTs);
    expect((await replicaGet(follower, 'pear', readTs)).json().value).toBe(b64('green'));
    const onLeader = await leader.post('/v1/get', { regionId: ID, key: b64('pear'), ts: readTs.toString() });
    expect(onLeader.json()).toEqual({ value: b64('green') });
    // The leader serves replica reads too (by its lease), at a ts every write below it is applied at.
    const fromLeader = await replicaGet(leader, 'pear');
    expect(fromLeader.json().value).toBe(b64('brown'));
    expect(BigInt(fromLeader.json().readTs)).toBeGreaterThanOrEqual(later);
  });

  it('refuses a ts above the follower’s safe ts with DataIsNotReady, and one below the GC safepoint with TsTooOld', async () => {
    const ahead = composeTimestamp(Date.now() + 60_000);
    expect(ahead).toBeGreaterThan(follower.group.getRegion(REGION)!.safeTs);
    for (const res of [
      await replicaGet(follower, 'apple', ahead),
      await follower.post('/v1/batch-get', {
        regionId: ID,
        keys: [b64('apple')],
        replicaRead: true,
        ts: ahead.toString(),
      }),
      await follower.post('/v1/scan', { regionId: ID, replicaRead: true, ts: ahead.toString() }),
    ]) {
      expect([res.statusCode, res.json().code]).toEqual([503, 'DataIsNotReady']);
      expect(res.json().details).toMatchObject({ regionId: ID, ts: ahead.toString() });
    }
    const safePoint = composeTimestamp(Date.now() - 1000);
    follower.group.advanceGcSafePoint(safePoint);
    const tooOld = await replicaGet(follower, 'apple', safePoint - 1n);
    expect([tooOld.statusCode, tooOld.json().code]).toEqual([410, 'TsTooOld']);
    // A read at its own safe ts (above the safepoint) is still served.
    expect((await replicaGet(follower, 'apple')).statusCode).toBe(200);
  });

  it('refuses a linearizable read on the follower (NotLeader), and a region it does not hold (RegionNotFound)', async () => {
    for (const res of [
      await follower.post('/v1/get', { regionId: ID, key: b64('apple') }),
      await follower.post('/v1/get', { regionId: ID, key: b64('apple'), ts: '1' }),
      await follower.post('/v1/scan', { regionId: ID }),
    ]) {
      expect([res.statusCode, res.json().code]).toEqual([421, 'NotLeader']);
    }
    const missing = await follower.post('/v1/get', { regionId: '9:9', key: b64('a'), replicaRead: true });
    expect([missing.statusCode, missing.json().code]).toEqual([404, 'RegionNotFound']);
  });

  it('refuses replica reads on a downgrading leader (NotLeader)', async () => {
    await leader.group.setRoleStateGracefully(REGION, 'DowngradingLeader');
    const res = await replicaGet(leader, 'apple');
    expect([res.statusCode, res.json().code]).toEqual([421, 'NotLeader']);
  });
});

import { RegionId, clearFailPoints, configureFailPoint, isRegionStoreError } from '@regionstore/core';
import { createRedis, waitForRedis, type Redis } from '@regionstore/runtime';
import { RedisLogStore, checkWalDurability, type WalDurabilityOptions } from '@regionstore/log-store';
import { PrivateRedisServer, useTempDir } from '@regionstore/testing';

const dir = useTempDir('log-store-durability');
const servers: PrivateRedisServer[] = [];
const connections: Redis[] = [];
afterEach(() => clearFailPoints());
afterAll(async () => {
  for (const c of connections) c.disconnect();
  for (const s of servers) await s.kill();
});

async function redisWith(settings: string[]): Promise<{ server: PrivateRedisServer; redis: Redis }> {
  const server = await PrivateRedisServer.start(dir.sub('redis'), settings);
  servers.push(server);
  const redis = createRedis(server.url, 'client');
  connections.push(redis);
  await waitForRedis(redis, 5000);
  return { server, redis };
}

const options = (
  durability: WalDurabilityOptions['durability'],
  more: Partial<WalDurabilityOptions> = {},
) => ({
  durability,
  minReplicas: 1,
  replicaTimeoutMs: 300,
  configCheck: 'config' as const,
  ...more,
});

async function refusal(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    expect(isRegionStoreError(err, 'InvalidConfig')).toBe(true);
    return err as Error;
  }
  throw new Error('expected the check to refuse');
}

describe('WAL durability check', () => {
  it("refuses Debian's default Redis (no AOF) for fsync and everysec, naming what to set; unsafe runs unverified", async () => {
    const { redis } = await redisWith(['--appendonly', 'no', '--appendfsync', 'everysec']);
    expect((await refusal(checkWalDurability(redis, options('everysec')))).message).toMatch(
      /appendonly is 'no', set appendonly yes.*wal\.durability: unsafe/,
    );
    expect((await refusal(checkWalDurability(redis, options('fsync')))).message).toMatch(
      /set appendonly yes; appendfsync is 'everysec', set appendfsync always/,
    );
    expect(await checkWalDurability(redis, options('unsafe'))).toMatchObject({
      mode: 'unsafe',
      verified: false,
    });
  });

  it('accepts AOF everysec for everysec but not for fsync; AOF always for both', async () => {
    const everysec = (await redisWith(['--appendfsync', 'everysec'])).redis;
    expect(await checkWalDurability(everysec, options('everysec'))).toMatchObject({
      verified: true,
      settings: { appendonly: 'yes', appendfsync: 'everysec' },
    });
    expect((await refusal(checkWalDurability(everysec, options('fsync')))).message).toMatch(
      /set appendfsync always/,
    );
    const always = (await redisWith([])).redis;
    expect(await checkWalDurability(always, options('fsync'))).toMatchObject({ verified: true });
    expect(await checkWalDurability(always, options('everysec'))).toMatchObject({ verified: true });
  });

  it('on a Redis without CONFIG (managed), refuses unless configCheck is skip, then runs unverified', async () => {
    const { redis } = await redisWith(['--rename-command', 'CONFIG', '']);
    expect((await refusal(checkWalDurability(redis, options('fsync')))).message).toMatch(
      /wal\.configCheck: skip/,
    );
    expect(await checkWalDurability(redis, options('fsync', { configCheck: 'skip' }))).toMatchObject({
      mode: 'fsync',
      verified: false,
    });
  });

  it('replicas: needs minReplicas connected replicas, acknowledges what they have, and reports a missed WAIT as retryable with an unknown outcome', async () => {
    const primary = await redisWith(['--appendonly', 'no', '--repl-diskless-sync-delay', '0']);
    const replica = await redisWith([
      '--appendonly',
      'no',
      '--replicaof',
      '127.0.0.1',
      String(primary.server.port),
    ]);
    // connected, and past its initial sync (WAIT counts only replicas that are online)
    for (let i = 0; i < 100 && !/slave0:.*state=online/.test(await primary.redis.info('replication')); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await primary.redis.wait(1, 5000)).toBe(1); // and acknowledging
    expect(await checkWalDurability(primary.redis, options('replicas'))).toMatchObject({
      verified: true,
      settings: { connectedReplicas: '1' },
    });
    expect(
      (await refusal(checkWalDurability(primary.redis, options('replicas', { minReplicas: 2 })))).message,
    ).toMatch(/1 replica\(s\) connected, wal.minReplicas is 2/);

    const wal = new RedisLogStore(primary.redis, { prefix: 'dur', minReplicas: 1, replicaTimeoutMs: 2000 });
    const region = new RegionId(3, 1);
    const fence = { nodeId: 'n1', epoch: 1 };
    await wal.setFence(region, fence);
    expect(await wal.append(region, [Buffer.from('a')], fence)).toBe(1);
    expect(await replica.redis.xlen(wal.keys(region).log)).toBe(1); // the replica has it

    await replica.server.kill();
    let missed: unknown;
    try {
      await wal.append(region, [Buffer.from('b')], fence);
    } catch (err) {
      missed = err;
    }
    expect(isRegionStoreError(missed, 'ServerIsBusy')).toBe(true);
    expect((missed as { details: object }).details).toMatchObject({ outcome: 'unknown', replicas: 0 });
  });

  it('resends an append whose reply was lost with the same token: acknowledged once, never appended twice', async () => {
    const { redis } = await redisWith([]);
    const wal = new RedisLogStore(redis, { prefix: 'dur' });
    const region = new RegionId(3, 2);
    const fence = { nodeId: 'n1', epoch: 1 };
    await wal.setFence(region, fence);
    await wal.append(region, [Buffer.from('a')], fence);
    configureFailPoint('wal_append_connection_lost', '1*return');
    expect(await wal.append(region, [Buffer.from('b'), Buffer.from('c')], fence)).toBe(3);
    expect(await redis.xlen(wal.keys(region).log)).toBe(3);
    expect(await wal.append(region, [Buffer.from('d')], fence)).toBe(4);
  });

  it('answers a resend refused by a fence moved meanwhile as of unknown outcome: the first try may have landed', async () => {
    const { redis } = await redisWith([]);
    const wal = new RedisLogStore(redis, { prefix: 'dur-moved' });
    const region = new RegionId(3, 3);
    const fence = { nodeId: 'n1', epoch: 1 };
    await wal.setFence(region, fence);
    configureFailPoint('wal_append_connection_lost', '1*return');
    const appending = wal.append(region, [Buffer.from('a')], fence);
    // Between the lost reply and the resend (50 ms later), another node takes the region.
    await wal.setFence(region, { nodeId: 'n2', epoch: 2 });
    const err = await appending.catch((e: unknown) => e);
    expect(isRegionStoreError(err, 'ServerIsBusy')).toBe(true);
    expect((err as { details: object }).details).toMatchObject({ outcome: 'unknown' });
    expect(await redis.xlen(wal.keys(region).log)).toBe(1); // it did land
    // A first try refused by the fence is a plain NotLeader: nothing was sent before it.
    expect(
      isRegionStoreError(await wal.append(region, [Buffer.from('b')], fence).catch((e) => e), 'NotLeader'),
    ).toBe(true);
  });
});

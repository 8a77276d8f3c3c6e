import { RegionId } from '@regionstore/core';
import { createRedis, waitForRedis } from '@regionstore/runtime';
import { RedisLogStore } from '@regionstore/log-store';
import { PrivateRedisServer, useTempDir } from '@regionstore/testing';

const dir = useTempDir('wal-restart');
const FENCE = { nodeId: 'node-a', epoch: 3 };

describe('RedisLogStore across a Redis restart', () => {
  let server: PrivateRedisServer;
  afterAll(async () => server?.kill());

  it('reconnects, and loses or duplicates no acknowledged entry', async () => {
    server = await PrivateRedisServer.start(dir.path);
    const redis = createRedis(server.url, 'client');
    await waitForRedis(redis);
    const log = new RedisLogStore(redis, { prefix: 'rs-restart' });
    const region = new RegionId(1, 1);
    await log.setFence(region, FENCE);

    const acknowledged = new Map<number, string>();
    const failures: string[] = [];
    let slowest = 0;
    let restarted: Promise<void> | undefined;
    for (let i = 0; i < 300 && (acknowledged.size < 200 || !restarted); i++) {
      if (i === 60) {
        // kill -9 in the middle of the appends; bring it back a little later
        restarted = server.kill('SIGKILL').then(async () => {
          await new Promise((resolve) => setTimeout(resolve, 300));
          await server.restart();
        });
      }
      const payload = `entry-${i}`;
      const started = Date.now();
      try {
        const id = await log.append(region, [Buffer.from(payload)], FENCE);
        slowest = Math.max(slowest, Date.now() - started);
        acknowledged.set(id, payload);
      } catch (err) {
        failures.push((err as { code: string }).code);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    await restarted;
    // The outage was seen: an append waited it out, resending (same token) until Redis was back.
    // One that gives up says so with the retryable code, never a final error.
    expect(slowest).toBeGreaterThanOrEqual(250);
    expect(failures.every((code) => code === 'ServerIsBusy')).toBe(true);
    expect(acknowledged.size).toBeGreaterThanOrEqual(200); // and the client came back

    const stored: Array<{ id: number; data: string }> = [];
    for await (const batch of log.read(region, 1))
      stored.push(...batch.map((e) => ({ id: e.id, data: e.data.toString() })));
    const byId = new Map(stored.map((e) => [e.id, e.data]));
    for (const [id, payload] of acknowledged) expect(byId.get(id)).toBe(payload);
    expect(new Set(stored.map((e) => e.data)).size).toBe(stored.length); // no duplicates
    expect(stored.map((e) => e.id)).toEqual(stored.map((_, i) => i + 1)); // no holes
    redis.disconnect();
  }, 30_000);
});

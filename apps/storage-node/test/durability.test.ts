import { isRegionStoreError } from '@regionstore/core';
import { loadConfig, silentLogger } from '@regionstore/runtime';
import { PrivateRedisServer, useTempDir } from '@regionstore/testing';
import { storageNodeConfigSchema } from '../src/config';
import { StorageNode } from '../src/storage-node';

const dir = useTempDir('node-durability');
let redis: PrivateRedisServer | undefined;
afterAll(async () => redis?.kill());

describe('a storage node and the durability Redis can give', () => {
  it("refuses Debian's default Redis (no AOF) unless told unsafe, and then says so in /ready and a metric", async () => {
    redis = await PrivateRedisServer.start(dir.sub('redis'), ['--appendonly', 'no']);
    const config = (env: Record<string, string> = {}) =>
      loadConfig(storageNodeConfigSchema, {
        env: {
          REGIONSTORE_NODE_ID: 'n1',
          REGIONSTORE_REDIS_URL: redis!.url,
          REGIONSTORE_KEY_PREFIX: 'durability',
          REGIONSTORE_DATA_DIR: dir.sub('db'),
          REGIONSTORE_SNAPSHOT_STORAGE: `local://${dir.sub('objects')}`,
          ...env,
        },
      });
    expect(config().wal).toEqual({
      durability: 'everysec',
      minReplicas: 1,
      replicaTimeoutMs: 1000,
      configCheck: 'config',
    });
    expect(config({ REGIONSTORE_WAL__MIN_REPLICAS: '2' }).wal.minReplicas).toBe(2); // no longer ignored

    let refused: unknown;
    try {
      await StorageNode.start(config(), silentLogger());
    } catch (err) {
      refused = err;
    }
    expect(isRegionStoreError(refused, 'InvalidConfig')).toBe(true);
    expect((refused as Error).message).toMatch(/set appendonly yes/);

    const node = await StorageNode.start(config({ REGIONSTORE_WAL__DURABILITY: 'unsafe' }), silentLogger());
    try {
      const ready = (await (await fetch(`${node.address}/ready`)).json()) as { wal: object };
      expect(ready.wal).toMatchObject({ mode: 'unsafe', verified: false });
      const metrics = await (await fetch(`${node.address}/metrics`)).text();
      expect(metrics).toMatch(
        /regionstore_log_store_durability_info\{[^}]*mode="unsafe"[^}]*verified="false"[^}]*\} 1/,
      );
    } finally {
      await node.stop();
    }
  });
});

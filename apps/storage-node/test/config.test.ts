import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@regionstore/runtime';
import { checkApiExposure, loadStorageNodeConfig, storageNodeConfigSchema } from '../src/config';

const base = {
  REGIONSTORE_NODE_ID: 'node-1',
  REGIONSTORE_DATA_DIR: '/tmp/rs',
  REGIONSTORE_SNAPSHOT_STORAGE: 'local:///tmp/rs-objects',
};

describe('storage node config', () => {
  it('reads the engine memory settings from the environment, and leaves RocksDB defaults otherwise', () => {
    expect(loadConfig(storageNodeConfigSchema, { env: base }).engine).toEqual({});
    const tuned = loadConfig(storageNodeConfigSchema, {
      env: {
        ...base,
        REGIONSTORE_ENGINE__WRITE_BUFFER_SIZE: String(8 * 1024 * 1024),
        REGIONSTORE_ENGINE__MAX_WRITE_BUFFER_NUMBER: '3',
      },
    });
    expect(tuned.engine).toEqual({ writeBufferSize: 8 * 1024 * 1024, maxWriteBufferNumber: 3 });
  });

  it('refuses engine settings RocksDB could not use, naming the key', () => {
    expect(() =>
      loadConfig(storageNodeConfigSchema, { env: { ...base, REGIONSTORE_ENGINE__WRITE_BUFFER_SIZE: '10' } }),
    ).toThrow(/engine\.writeBufferSize/);
    expect(() =>
      loadConfig(storageNodeConfigSchema, {
        env: { ...base, REGIONSTORE_ENGINE__MAX_WRITE_BUFFER_NUMBER: '0' },
      }),
    ).toThrow(/engine\.maxWriteBufferNumber/);
  });

  it('refuses an open data API on a non-loopback address, and takes the token from the environment', () => {
    const open = loadConfig(storageNodeConfigSchema, { env: { ...base, REGIONSTORE_HTTP__HOST: '0.0.0.0' } });
    expect(() => checkApiExposure(open)).toThrow(/0\.0\.0\.0 is not a loopback address: set apiToken/);
    const guarded = loadConfig(storageNodeConfigSchema, {
      env: { ...base, REGIONSTORE_HTTP__HOST: '0.0.0.0', REGIONSTORE_API_TOKEN: 'long-enough-token' },
    });
    expect(guarded.apiToken).toBe('long-enough-token');
    expect(() => checkApiExposure(guarded)).not.toThrow();
    expect(() => checkApiExposure(loadConfig(storageNodeConfigSchema, { env: base }))).not.toThrow();
    expect(() =>
      loadConfig(storageNodeConfigSchema, { env: { ...base, REGIONSTORE_API_TOKEN: 'short' } }),
    ).toThrow(/apiToken/);
  });

  it('refuses a config file with a misspelt setting, naming it, in every section', () => {
    const dir = mkdtempSync(join(tmpdir(), 'regionstore-node-config-'));
    try {
      const file = join(dir, 'node.yaml');
      // `durabilty` would otherwise leave the default (everysec) in force, not what the operator asked.
      writeFileSync(
        file,
        'wal:\n  durabilty: fsync\nworkerGroup:\n  regionWriteBuferSize: 1048576\nhttp:\n  port: 7701\n',
      );
      expect(() => loadStorageNodeConfig({ file, env: base })).toThrow(
        /wal\.durabilty: unknown key[\s\S]*workerGroup\.regionWriteBuferSize: unknown key/,
      );
      writeFileSync(file, 'wal:\n  durability: fsync\nworkerGroup:\n  regionWriteBufferSize: 1048576\n');
      const config = loadStorageNodeConfig({ file, env: base });
      expect(config.wal.durability).toBe('fsync');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

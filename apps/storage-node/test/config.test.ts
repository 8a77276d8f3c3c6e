import { loadConfig } from '@regionstore/core';
import { storageNodeConfigSchema } from '../src/config';

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
});

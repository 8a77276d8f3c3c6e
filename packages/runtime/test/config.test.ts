import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidConfigError, type RegionStoreError } from '@regionstore/core';
import { loadConfig } from '@regionstore/runtime';
import { z } from 'zod';

const schema = z.object({
  nodeId: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(4101),
  wal: z
    .object({
      minReplicas: z.number().int().nonnegative().default(0),
      appendTimeoutMs: z.number().positive().default(1000),
    })
    .default({ minReplicas: 0, appendTimeoutMs: 1000 }),
  tags: z.array(z.string()).default([]),
});

// runtime cannot use @regionstore/testing (it depends on runtime), so the temp dir is made here.
const tmp = { path: mkdtempSync(join(tmpdir(), 'regionstore-config-')) };
afterAll(() => rmSync(tmp.path, { recursive: true, force: true }));

function configError(fn: () => unknown): RegionStoreError {
  try {
    fn();
  } catch (err) {
    return err as RegionStoreError;
  }
  throw new Error('expected an error');
}

describe('loadConfig', () => {
  it('applies defaults', () => {
    const config = loadConfig(schema, { env: {}, overrides: { nodeId: 'n1' } });
    expect(config).toEqual({
      nodeId: 'n1',
      port: 4101,
      wal: { minReplicas: 0, appendTimeoutMs: 1000 },
      tags: [],
    });
  });

  it('reads YAML, then env overrides, then code overrides', () => {
    const file = join(tmp.path, 'node.yaml');
    writeFileSync(file, 'nodeId: from-file\nport: 5000\nwal:\n  minReplicas: 1\n');
    const config = loadConfig(schema, {
      file,
      env: {
        REGIONSTORE_PORT: '6000',
        REGIONSTORE_WAL__APPEND_TIMEOUT_MS: '250',
        REGIONSTORE_TAGS: '["a","b"]',
        OTHER: 'x',
      },
      overrides: { nodeId: 'from-code' },
    });
    expect(config).toEqual({
      nodeId: 'from-code',
      port: 6000,
      wal: { minReplicas: 1, appendTimeoutMs: 250 },
      tags: ['a', 'b'],
    });
  });

  it('reads JSON files by extension', () => {
    const file = join(tmp.path, 'node.json');
    writeFileSync(file, JSON.stringify({ nodeId: 'j', port: 7 }));
    expect(loadConfig(schema, { file, env: {} }).port).toBe(7);
  });

  it('refuses a key in the file that the schema does not know, naming it; ignores unknown variables', () => {
    const file = join(tmp.path, 'typo.yaml');
    writeFileSync(file, 'nodeId: n1\nwal:\n  minReplica: 2\nprot: 80\ntags: [a]\n');
    const err = configError(() =>
      loadConfig(schema, {
        file,
        env: { REGIONSTORE_ADMIN_TOKEN: 'a metasrv setting', REGIONSTORE_X__Y: '1' },
      }),
    );
    expect(err).toBeInstanceOf(InvalidConfigError);
    expect(err.details?.['issues']).toEqual([
      { path: 'wal.minReplica', message: expect.stringMatching(/unknown key/) },
      { path: 'prot', message: expect.stringMatching(/unknown key/) },
    ]);
    expect(err.message).toContain('wal.minReplica');
    // The same settings spelt right, with the same environment: fine.
    writeFileSync(file, 'nodeId: n1\nwal:\n  minReplicas: 2\nport: 80\n');
    expect(
      loadConfig(schema, {
        file,
        env: { REGIONSTORE_ADMIN_TOKEN: 'a metasrv setting', REGIONSTORE_X__Y: '1' },
      }),
    ).toMatchObject({ port: 80, wal: { minReplicas: 2 } });
  });

  it('lists every problem with its path, not just the first', () => {
    const err = configError(() =>
      loadConfig(schema, { env: { REGIONSTORE_PORT: '"eighty"', REGIONSTORE_WAL__MIN_REPLICAS: '-1' } }),
    );
    expect(err).toBeInstanceOf(InvalidConfigError);
    const issues = err.details.issues as Array<{ path: string; message: string }>;
    expect(issues.map((i) => i.path).sort()).toEqual(['nodeId', 'port', 'wal.minReplicas']);
    expect(err.message).toContain('  - port:');
    expect(err.message).toContain('  - wal.minReplicas:');
    expect(err.message).toContain('  - nodeId:');
  });

  it('reports unreadable and malformed files clearly', () => {
    expect(() => loadConfig(schema, { file: join(tmp.path, 'missing.yaml'), env: {} })).toThrow(
      /cannot read config file .*missing\.yaml/,
    );
    const bad = join(tmp.path, 'bad.json');
    writeFileSync(bad, '{"nodeId": ');
    expect(() => loadConfig(schema, { file: bad, env: {} })).toThrow(/bad\.json is not valid/);
    const list = join(tmp.path, 'list.yaml');
    writeFileSync(list, '- a\n- b\n');
    expect(() => loadConfig(schema, { file: list, env: {} })).toThrow(/must hold an object/);
  });
});

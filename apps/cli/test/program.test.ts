import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { buildProgram, table } from '../src/program';
import { displayBytes, displayEpoch } from '../src/display';

async function run(args: string[]) {
  let output = '';
  const program = buildProgram({ out: (text) => (output += text) });
  let exitCode = 0;
  try {
    await program.parseAsync(['node', 'regionctl', ...args]);
  } catch (err) {
    // Commander printed its own errors; the others main.ts prints.
    const { exitCode: code, message } = err as { exitCode?: number; message?: string };
    if (code === undefined) output += `error: ${message}\n`;
    exitCode = code ?? 1;
  }
  return { output, exitCode };
}

describe('table', () => {
  it('aligns columns and prints objects as JSON', () => {
    expect(
      table([
        { a: 1, long_name: 'x' },
        { a: 22, long_name: { y: 1 } },
      ]),
    ).toBe('a   long_name\n1   x\n22  {"y":1}');
    expect(table([])).toBe('(none)');
  });
});

describe('regionctl', () => {
  it('lists its commands', async () => {
    const { output } = await run(['--help']);
    for (const command of [
      'put',
      'get',
      'delete',
      'scan',
      'cluster',
      'region',
      'maintenance',
      'node',
      'backup',
      'restore',
      'gc',
    ]) {
      expect(output).toContain(command);
    }
  });

  it('prints its version, and refuses a scan limit that is not a positive integer', async () => {
    const version = await run(['--version']);
    expect(version.output.trim()).toBe('0.1.0');
    const scan = await run(['scan', '--limit', 'abc']);
    expect(scan.exitCode).not.toBe(0);
    expect(scan.output).toMatch(/--limit must be a positive integer/);
  });

  it('never prints the token from the environment in --help', async () => {
    process.env.REGIONSTORE_TOKEN = 'very-secret-token';
    try {
      const { output } = await run(['--help']);
      expect(output).toContain('REGIONSTORE_TOKEN');
      expect(output).not.toContain('very-secret-token');
    } finally {
      delete process.env.REGIONSTORE_TOKEN;
    }
  });

  it('refuses unknown commands and missing arguments with a non-zero exit', async () => {
    expect((await run(['frobnicate'])).exitCode).not.toBe(0);
    const missing = await run(['put', 'only-a-key']);
    expect(missing.exitCode).not.toBe(0);
    expect(missing.output).toMatch(/missing required argument/);
  });

  it('reports a cluster it cannot reach as an error, not a crash', async () => {
    const program = buildProgram({ out: () => undefined });
    await expect(
      program.parseAsync(['node', 'regionctl', '--metasrv', 'http://127.0.0.1:1', 'cluster', 'status']),
    ).rejects.toThrow(/cannot reach http:\/\/127\.0\.0\.1:1: connect ECONNREFUSED/);
  });

  it('gives up on a data command after --timeout, naming the cluster it could not reach', async () => {
    const program = buildProgram({ out: () => undefined });
    await expect(
      program.parseAsync([
        'node',
        'regionctl',
        '--metasrv',
        'http://127.0.0.1:1',
        '--timeout',
        '300',
        'get',
        'k',
      ]),
    ).rejects.toThrow(/gave up after 300 ms: cannot reach http:\/\/127\.0\.0\.1:1/);
    const bad = await run(['--timeout', 'soon', 'get', 'k']);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.output).toMatch(/--timeout must be a positive integer/);
  });
});

describe('table cells', () => {
  it('show printable bytes as text, others as hex, long ones cut with their size', () => {
    expect(displayBytes(Buffer.from('hello'))).toBe('hello');
    expect(displayBytes(Buffer.from([0, 1, 0xff]))).toBe('0x0001ff');
    expect(displayBytes(Buffer.from('line\nbreak'))).toBe('0x6c696e650a627265616b');
    expect(displayBytes(Buffer.from('a b'))).toBe('a b');
    expect(displayBytes(Buffer.from(' '))).toBe('0x20');
    expect(displayBytes(Buffer.from('key '))).toBe('0x6b657920');
    const long = displayBytes(Buffer.alloc(100_000, 0x61));
    expect(long).toBe(`${'a'.repeat(48)}… (100000 bytes)`);
    expect(displayBytes(Buffer.from([0xc3]))).toBe('0xc3'); // not valid UTF-8
    expect(displayEpoch({ version: 2, confVer: 5 })).toBe('v2/c5');
  });
});

describe('regionctl restore', () => {
  it('shows the files verified and regions checked even when those phases ended before the first poll', async () => {
    // A metasrv whose restore is past its verify phase when first asked (a small backup, a busy host)
    const server = createServer((request, response) => {
      response.setHeader('content-type', 'application/json');
      if (request.url === '/admin/restore') response.end(JSON.stringify({ id: 'r1' }));
      else
        response.end(
          JSON.stringify({
            id: 'r1',
            status: 'Done',
            phase: 'write',
            filesTotal: 6,
            filesVerified: 6,
            regionsToCheck: 5,
            regionsChecked: 5,
            regionsTotal: 4,
            regionsDone: 4,
            kvs: 40,
          }),
        );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    let progress = '';
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        progress += chunk.toString();
        done();
      },
    });
    try {
      const program = buildProgram({ out: () => undefined, progress: stream });
      await program.parseAsync([
        'node',
        'regionctl',
        '--metasrv',
        `http://127.0.0.1:${port}`,
        'restore',
        'local:///b',
      ]);
    } finally {
      server.close();
    }
    expect(progress).toMatch(/restore \[.*\] 6\/6 files verified/);
    expect(progress).toMatch(/restore \[.*\] 5\/5 regions checked/);
    expect(progress).toMatch(/restore \[.*\] 4\/4 regions written/);
  });
});

describe('regionctl node', () => {
  it('drains and undrains a node through the admin API, naming what it still holds', async () => {
    const asked: string[] = [];
    const server = createServer((request, response) => {
      asked.push(`${request.method} ${request.url}`);
      response.setHeader('content-type', 'application/json');
      const drained = request.url!.endsWith('/drain');
      response.end(JSON.stringify({ node: 'node-1', drained, leads: 3, follows: 2 }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const metasrv = ['--metasrv', `http://127.0.0.1:${port}`];
      const drain = await run([...metasrv, 'node', 'drain', 'node-1']);
      expect(drain.output).toMatch(/node-1 drained: it leads 3 and follows 2 regions/);
      const undrain = await run([...metasrv, 'node', 'undrain', 'node-1']);
      expect(undrain.output).toMatch(/node-1 takes regions again/);
    } finally {
      server.close();
    }
    expect(asked).toEqual(['POST /admin/nodes/node-1/drain', 'POST /admin/nodes/node-1/undrain']);
  });
});

/** A metasrv that records what it is asked and answers from `answer` (by method and path). */
async function fakeMetasrv(answer: (method: string, path: string) => unknown) {
  const asked: Array<{ method: string; path: string; body?: unknown }> = [];
  const server = createServer((request, response) => {
    let raw = '';
    request.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    request.on('end', () => {
      const path = request.url!;
      asked.push({ method: request.method!, path, ...(raw ? { body: JSON.parse(raw) as unknown } : {}) });
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify(answer(request.method!, path)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { asked, metasrv: ['--metasrv', url], close: () => server.close() };
}

const doneBackup = {
  id: 'b1',
  status: 'Done',
  storage: 'local:///backups/b1',
  regionsDone: 2,
  regionsTotal: 2,
};

describe('regionctl backup create and restore', () => {
  it('sends the range, rate limit, compression and base of a backup as the metasrv takes them', async () => {
    const fake = await fakeMetasrv((method) => (method === 'POST' ? { id: 'b1' } : doneBackup));
    try {
      const created = await run([
        ...fake.metasrv,
        '--hex',
        'backup',
        'create',
        '--storage',
        'local:///backups/b1',
        '--start',
        '6b31',
        '--end',
        '6b35',
        '--since',
        '42',
        '--rate-limit',
        '10MiB',
        '--compression',
        'zstd',
      ]);
      expect(created.exitCode).toBe(0);
      await run([...fake.metasrv, 'backup', 'create', 'local:///backups/b2', '--rate-limit', '512k']);
    } finally {
      fake.close();
    }
    expect(fake.asked.filter((a) => a.method === 'POST').map((a) => a.body)).toEqual([
      {
        storage: 'local:///backups/b1',
        wait: false,
        startKey: Buffer.from('k1').toString('base64'),
        endKey: Buffer.from('k5').toString('base64'),
        startVersion: '42',
        rateLimit: 10 * 1024 * 1024,
        compressionType: 'zstd',
      },
      { storage: 'local:///backups/b2', wait: false, rateLimit: 512 * 1024 },
    ]);
  });

  it('refuses a backup without a place, with two, or with a size, compression or key it cannot read', async () => {
    const fake = await fakeMetasrv(() => ({ id: 'b1' }));
    try {
      for (const [args, message] of [
        [['backup', 'create'], /missing storage/],
        [['backup', 'create', 'local:///a', '--storage', 'local:///b'], /give storage once/],
        [['backup', 'create', 'local:///a', '--rate-limit', '10 potatoes'], /--rate-limit must be a size/],
        [['backup', 'create', 'local:///a', '--rate-limit', '0'], /--rate-limit must be a size/],
        [
          ['backup', 'create', 'local:///a', '--compression', 'gzip'],
          /Allowed choices are lz4, snappy, zstd, none/,
        ],
        [['--hex', 'backup', 'create', 'local:///a', '--start', 'zz'], /start 'zz' is not hex/],
        [['--hex', '--base64', 'backup', 'create', 'local:///a'], /exclude each other/],
      ] as const) {
        const refused = await run([...fake.metasrv, ...args]);
        expect([args.join(' '), refused.exitCode]).toEqual([args.join(' '), 1]);
        expect(refused.output).toMatch(message);
      }
    } finally {
      fake.close();
    }
    expect(fake.asked).toEqual([]);
  });

  it('restores from where a finished backup of the cluster went (--backup), and from nothing else', async () => {
    const backups: Record<string, unknown> = {
      '/admin/backups/b1': doneBackup,
      '/admin/backups/b2': { ...doneBackup, id: 'b2', status: 'Failed' },
    };
    const fake = await fakeMetasrv((method, path) =>
      method === 'POST'
        ? { id: 'r1' }
        : (backups[path] ?? {
            id: 'r1',
            status: 'Done',
            phase: 'write',
            filesVerified: 1,
            regionsDone: 1,
            kvs: 1,
          }),
    );
    try {
      expect((await run([...fake.metasrv, 'restore', '--backup', 'b1'])).exitCode).toBe(0);
      expect((await run([...fake.metasrv, 'restore', '--backup', 'b1', '--force'])).exitCode).toBe(0);
      const failed = await run([...fake.metasrv, 'restore', '--backup', 'b2']);
      expect(failed.output).toMatch(/backup b2 is Failed, not Done/);
      const elsewhere = await run([...fake.metasrv, 'restore', 'local:///other', '--backup', 'b1']);
      expect(elsewhere.output).toMatch(/backup b1 went to local:\/\/\/backups\/b1, not local:\/\/\/other/);
    } finally {
      fake.close();
    }
    expect(fake.asked.filter((a) => a.method === 'POST')).toEqual([
      { method: 'POST', path: '/admin/restore', body: { storage: 'local:///backups/b1', wait: false } },
      {
        method: 'POST',
        path: '/admin/restore',
        body: { storage: 'local:///backups/b1', wait: false, force: true },
      },
    ]);
  });
});

describe('regionctl data commands', () => {
  it('refuses keys and values that are not in the encoding asked for, and bad scan arguments, before any request', async () => {
    for (const [args, message] of [
      [['--hex', 'put', '0g', '00'], /key '0g' is not hex/],
      [['--hex', 'put', '00', 'abc'], /value 'abc' is not hex/],
      [['--base64', 'get', 'a'], /key 'a' is not base64/],
      [['scan', 'a', '--start', 'b'], /give start once/],
      [['scan', '--ts', '-5'], /--ts must be a timestamp/],
      [['--hex', 'region', 'split', '1:1', '--key', 'xyz'], /key 'xyz' is not hex/],
      [['bench', '--duration', '10'], /--duration must be a duration such as 10s/],
      [['bench', '--duration', 'soon'], /--duration must be a duration such as 10s/],
    ] as const) {
      const refused = await run(['--metasrv', 'http://127.0.0.1:9', ...args]);
      expect([args.join(' '), refused.exitCode]).toEqual([args.join(' '), 1]);
      expect(refused.output).toMatch(message);
    }
  });
});

describe('regionctl cluster status', () => {
  it('shows each node with its regions and each region with its key range', async () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const fake = await fakeMetasrv(() => ({
      leader: 'm1',
      maintenance: false,
      nodes: [
        {
          id: 'node-1',
          address: 'http://x',
          state: 'alive',
          regions: 3,
          leaders: 2,
          phi: 0.1,
          drained: false,
        },
      ],
      regions: [
        {
          regionId: '1:1',
          start: '',
          end: b64('m'),
          leader: 'node-1',
          epoch: { version: 1, confVer: 1 },
          state: 'Normal',
          approximateSizeBytes: 3 * 1024 * 1024,
          approximateKeys: 41_000,
        },
        {
          regionId: '1:2',
          start: b64('m'),
          end: '',
          leader: 'node-1',
          epoch: { version: 1, confVer: 1 },
          state: 'Normal',
        },
      ],
    }));
    let output: string;
    try {
      ({ output } = await run([...fake.metasrv, 'cluster', 'status']));
    } finally {
      fake.close();
    }
    expect(output).toMatch(/node\s+address\s+state\s+regions\s+leaders\s+phi/);
    expect(output).toMatch(/node-1\s+http:\/\/x\s+alive\s+3\s+2\s+0.1/);
    expect(output).toMatch(/1:1\s+-∞ \.\. m\s+node-1\s+v1\/c1\s+Normal\s+3.0 MiB\s+41000/);
    expect(output).toMatch(/1:2\s+m \.\. \+∞\s+node-1/);
  });
});

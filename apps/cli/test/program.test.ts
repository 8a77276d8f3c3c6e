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
    exitCode = (err as { exitCode?: number }).exitCode ?? 1;
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
    const long = displayBytes(Buffer.alloc(100_000, 0x61));
    expect(long).toBe(`${'a'.repeat(48)}… (100000 bytes)`);
    expect(displayBytes(Buffer.from([0xc3]))).toBe('0xc3'); // not valid UTF-8
    expect(displayEpoch({ version: 2, confVer: 5 })).toBe('v2/c5');
  });
});

describe('regionctl restore', () => {
  it('shows the files verified even when verification ended before the first poll', async () => {
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

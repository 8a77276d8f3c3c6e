import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { InvalidArgumentError, NotFoundError, StorageError } from '@regionstore/core';
import { MemoryStorage, S3Storage, createStorage, type ExternalStorage } from '@regionstore/storage-backends';
import S3rver from 's3rver';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

async function names(storage: ExternalStorage, prefix?: string): Promise<string[]> {
  const out: string[] = [];
  for await (const item of storage.list(prefix)) out.push(`${item.name}:${item.size}`);
  return out;
}

/** A stream of `total` bytes made on the fly, so big objects never exist in memory here. */
function generated(total: number, chunk = 1024 * 1024): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) return this.push(null);
      const n = Math.min(chunk, total - sent);
      const buf = Buffer.alloc(n);
      for (let i = 0; i < n; i += 4096) buf[i] = (sent + i) % 251;
      sent += n;
      this.push(buf);
    },
  });
}

const dataDir = mkdtempSync(join(tmpdir(), 'regionstore-storage-'));
let s3server: S3rver | undefined;
let s3url = '';
const created: ExternalStorage[] = [];

beforeAll(async () => {
  s3server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory: join(dataDir, 's3'),
    configureBuckets: [{ name: 'regionstore-test', configs: [] }],
  });
  const { port } = await s3server.run();
  process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
  s3url = `s3://regionstore-test/backups/run1?endpoint=http://127.0.0.1:${port}&forcePathStyle=true&region=us-east-1`;
});

afterAll(async () => {
  for (const storage of created) if (storage instanceof S3Storage) storage.destroy();
  await s3server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

let counter = 0;
const backends: Array<[string, () => ExternalStorage]> = [
  ['local', () => createStorage(`local://${join(dataDir, `local-${counter++}`)}`)],
  ['memory', () => createStorage(`memory://suite-${process.pid}-${counter++}`)],
  ['s3', () => createStorage(s3url.replace('run1', `run-${counter++}`))],
];

describe.each(backends)('%s storage', (_kind, make) => {
  let storage: ExternalStorage;
  beforeEach(() => {
    storage = make();
    created.push(storage);
  });

  it('writes, reads, checks and deletes objects', async () => {
    expect(await storage.exists('snap/1.rsst')).toBe(false);
    const { size } = await storage.write(
      'snap/1.rsst',
      Readable.from([Buffer.from('hello '), Buffer.from('world')]),
    );
    expect(size).toBe(11);
    expect(await storage.exists('snap/1.rsst')).toBe(true);
    expect((await readAll(await storage.read('snap/1.rsst'))).toString()).toBe('hello world');
    await storage.write('snap/1.rsst', Readable.from([Buffer.from('replaced')]));
    expect((await readAll(await storage.read('snap/1.rsst'))).toString()).toBe('replaced');
    await storage.delete('snap/1.rsst');
    expect(await storage.exists('snap/1.rsst')).toBe(false);
    await storage.delete('snap/1.rsst');
  });

  it('reads byte ranges', async () => {
    await storage.write('r.bin', Readable.from([Buffer.from('0123456789')]));
    expect((await readAll(await storage.readRange('r.bin', 2, 3))).toString()).toBe('234');
    expect((await readAll(await storage.readRange('r.bin', 8, 10))).toString()).toBe('89');
    expect((await readAll(await storage.readRange('r.bin', 0, 0))).length).toBe(0);
    await expect(storage.readRange('r.bin', -1, 2)).rejects.toThrow(InvalidArgumentError);
  });

  it('lists by prefix in name order with sizes', async () => {
    for (const name of ['b/2', 'a/1', 'a/10', 'a/2/x', 'c'])
      await storage.write(name, Readable.from([Buffer.from(name)]));
    expect(await names(storage)).toEqual(['a/1:3', 'a/10:4', 'a/2/x:5', 'b/2:3', 'c:1']);
    expect(await names(storage, 'a/1')).toEqual(['a/1:3', 'a/10:4']);
    expect(await names(storage, 'a/')).toEqual(['a/1:3', 'a/10:4', 'a/2/x:5']);
    expect(await names(storage, 'zzz')).toEqual([]);
  });

  it('fails missing objects with NotFound naming them', async () => {
    await expect(storage.read('nope/x')).rejects.toThrow(NotFoundError);
    await expect(storage.read('nope/x')).rejects.toThrow(/nope\/x/);
    await expect(storage.readRange('nope/x', 0, 1)).rejects.toThrow(NotFoundError);
  });

  it('refuses a write whose length differs from the declared size, leaving no object', async () => {
    await expect(storage.write('sized', Readable.from([Buffer.from('abc')]), { size: 4 })).rejects.toThrow(
      StorageError,
    );
    expect(await storage.exists('sized')).toBe(false);
    await storage.write('sized', Readable.from([Buffer.from('abcd')]), { size: 4 });
    expect(await storage.exists('sized')).toBe(true);
  });

  it('a failing source stream leaves no object', async () => {
    const broken = new Readable({
      read() {
        this.destroy(new Error('source broke'));
      },
    });
    await expect(storage.write('broken', broken)).rejects.toThrow(/source broke/);
    expect(await storage.exists('broken')).toBe(false);
    expect(await names(storage)).toEqual([]);
  });

  it.each(['', '/abs', '../up', 'a/../../b', 'a//b', 'a/./b', 'nul\0byte', 'back\\slash', 'C:/win'])(
    'rejects the name %j',
    async (name) => {
      await expect(storage.write(name, Readable.from([Buffer.from('x')]))).rejects.toThrow(
        InvalidArgumentError,
      );
      await expect(storage.read(name)).rejects.toThrow(InvalidArgumentError);
    },
  );

  it('copies an object into an independent one, replacing what the target held', async () => {
    await storage.write('snapshots/1/a.rsst', Readable.from([Buffer.from('parent bytes')]));
    await storage.write('snapshots/2/a.rsst', Readable.from([Buffer.from('older')]));
    expect(await storage.copy('snapshots/1/a.rsst', 'snapshots/2/a.rsst')).toEqual({ size: 12 });
    // Either side changing afterwards leaves the other as it was.
    await storage.write('snapshots/1/a.rsst', Readable.from([Buffer.from('rewritten')]));
    expect((await readAll(await storage.read('snapshots/2/a.rsst'))).toString()).toBe('parent bytes');
    await storage.delete('snapshots/1/a.rsst');
    expect((await readAll(await storage.read('snapshots/2/a.rsst'))).toString()).toBe('parent bytes');
    await expect(storage.copy('snapshots/1/a.rsst', 'snapshots/3/a.rsst')).rejects.toThrow(NotFoundError);
    expect(await storage.exists('snapshots/3/a.rsst')).toBe(false);
    expect(await names(storage, 'snapshots/')).toEqual(['snapshots/2/a.rsst:12']);
  });

  it('streams an object larger than its chunks', async () => {
    const total = 24 * 1024 * 1024 + 123;
    await storage.write('big/object', generated(total), { size: total });
    let size = 0;
    let check = 0;
    for await (const chunk of await storage.read('big/object')) {
      const buf = chunk as Buffer;
      for (let i = 0; i < buf.length; i++) {
        if ((size + i) % 4096 === 0) check += buf[i]!;
      }
      size += buf.length;
    }
    expect(size).toBe(total);
    let expected = 0;
    for (let at = 0; at < total; at += 4096) expected += at % 251;
    expect(check).toBe(expected);
  });
});

describe('createStorage', () => {
  it.each([
    'ftp://x',
    'nothing',
    'local://',
    'memory://',
    'memory://bad name',
    'noop://extra',
    's3://UPPER/x',
    's3://ab/x',
    's3://bucket-ok/x?color=red',
    's3://bucket-ok/x?endpoint=ftp://h',
    's3://bucket-ok/x?forcePathStyle=maybe',
    's3://key:secret@bucket-ok/x',
  ])('rejects %j with InvalidArgument naming the URL', (url) => {
    expect(() => createStorage(url)).toThrow(InvalidArgumentError);
    expect(() => createStorage(url)).toThrow(url.replace('\0', ''));
  });

  it('resolves relative local paths from the working directory and keeps memory stores by name', async () => {
    expect(createStorage('local://./objects').url()).toBe(`local://${join(process.cwd(), 'objects')}`);
    const a = createStorage('memory://shared-name');
    await a.write('k', Readable.from([Buffer.from('v')]));
    expect(await createStorage('memory://shared-name').exists('k')).toBe(true);
    MemoryStorage.drop('shared-name');
    expect(await createStorage('memory://shared-name').exists('k')).toBe(false);
    expect(createStorage('s3://bucket-ok/a/b/?region=eu-west-1').url()).toBe(
      's3://bucket-ok/a/b?region=eu-west-1',
    );
  });
});

describe('noop storage', () => {
  it('accepts writes and keeps nothing', async () => {
    const noop = createStorage('noop://');
    expect(await noop.write('x', generated(3 * 1024 * 1024))).toEqual({ size: 3 * 1024 * 1024 });
    expect(await noop.exists('x')).toBe(false);
    await expect(noop.read('x')).rejects.toThrow(NotFoundError);
    expect(await names(noop)).toEqual([]);
    await noop.delete('x');
    await expect(noop.write('../x', Readable.from([]))).rejects.toThrow(InvalidArgumentError);
  });
});

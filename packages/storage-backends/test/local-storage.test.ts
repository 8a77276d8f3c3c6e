import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { InvalidArgumentError } from '@regionstore/core';
import { LocalStorage } from '@regionstore/storage-backends';
import { useTempDir } from '@regionstore/testing';

const tmp = useTempDir('local-storage');
const crashWriter = join(__dirname, 'fixtures', 'crash-writer.cjs');

function tempFiles(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith('.rs-tmp-')) : [];
}

describe('LocalStorage confinement', () => {
  it('refuses symlinks that lead outside the root, for writes and reads', async () => {
    const root = tmp.sub('root');
    const outside = tmp.sub('outside');
    mkdirSync(root, { recursive: true });
    mkdirSync(outside, { recursive: true });
    writeFileSync(join(outside, 'secret'), 'top secret');
    symlinkSync(outside, join(root, 'escape'));
    symlinkSync(join(outside, 'secret'), join(root, 'secret-link'));
    const storage = new LocalStorage(root);
    await expect(storage.write('escape/planted', Readable.from([Buffer.from('x')]))).rejects.toThrow(
      InvalidArgumentError,
    );
    expect(existsSync(join(outside, 'planted'))).toBe(false);
    await expect(storage.read('escape/secret')).rejects.toThrow(/outside the storage root/);
    await expect(storage.read('secret-link')).rejects.toThrow(InvalidArgumentError);
  });

  it('copies by a hard link: no bytes are copied, and no temporary file stays', async () => {
    const root = tmp.sub('links');
    const storage = new LocalStorage(root);
    await storage.write('snapshots/1/s.rsst', Readable.from([Buffer.from('shared bytes')]));
    await storage.copy('snapshots/1/s.rsst', 'snapshots/2/from-1-s.rsst');
    const source = statSync(join(root, 'snapshots', '1', 's.rsst'));
    const copy = statSync(join(root, 'snapshots', '2', 'from-1-s.rsst'));
    expect(copy.ino).toBe(source.ino);
    expect(copy.nlink).toBe(2);
    expect(tempFiles(join(root, 'snapshots', '2'))).toEqual([]);
    // Again (a retried split): renaming a link over a link of the same file leaves the temp name.
    await storage.copy('snapshots/1/s.rsst', 'snapshots/2/from-1-s.rsst');
    expect(tempFiles(join(root, 'snapshots', '2'))).toEqual([]);
    expect(statSync(join(root, 'snapshots', '1', 's.rsst')).nlink).toBe(2);
    // A link that would lead outside the root is refused like a write.
    const elsewhere = tmp.sub('elsewhere');
    mkdirSync(elsewhere, { recursive: true });
    symlinkSync(elsewhere, join(root, 'escape'));
    await expect(storage.copy('snapshots/1/s.rsst', 'escape/s.rsst')).rejects.toThrow(InvalidArgumentError);
  });

  it('creates directories as needed and keeps objects in them', async () => {
    const root = tmp.sub('dirs');
    const storage = new LocalStorage(root);
    await storage.write('a/b/c/d.bin', Readable.from([Buffer.from('deep')]));
    expect(statSync(join(root, 'a', 'b', 'c', 'd.bin')).size).toBe(4);
  });
});

describe('LocalStorage crash safety', () => {
  function runWriter(root: string, name: string, size: number, failpoints?: string) {
    return spawn(process.execPath, [crashWriter, root, name, String(size)], {
      env: { ...process.env, ...(failpoints ? { REGIONSTORE_FAILPOINTS: failpoints } : {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  it('a process killed between write and rename leaves no object under the final name', async () => {
    const root = tmp.sub('crash');
    const size = 4 * 1024 * 1024;
    const child = runWriter(root, 'snap/region-1.rsst', size, 'local_storage_before_rename=pause');
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // Wait until the whole object sits in its temp file: the writer is then parked before rename.
    const dir = join(root, 'snap');
    for (let i = 0; i < 200; i++) {
      const temps = tempFiles(dir);
      if (temps.length === 1 && statSync(join(dir, temps[0]!)).size === size) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(tempFiles(dir)).toHaveLength(1);
    child.kill('SIGKILL');
    await exited;

    const storage = new LocalStorage(root);
    expect(await storage.exists('snap/region-1.rsst')).toBe(false);
    const listed: string[] = [];
    for await (const item of storage.list()) listed.push(item.name);
    expect(listed).toEqual([]);
    // The name is still usable: a later write lands whole.
    await storage.write('snap/region-1.rsst', Readable.from([Buffer.from('ok')]));
    expect(await storage.exists('snap/region-1.rsst')).toBe(true);
  });

  it('the same writer without the fail point leaves the whole object', async () => {
    const root = tmp.sub('nocrash');
    const child = runWriter(root, 'snap/region-1.rsst', 1024);
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
    expect(statSync(join(root, 'snap', 'region-1.rsst')).size).toBe(1024);
    expect(tempFiles(join(root, 'snap'))).toEqual([]);
  });
});

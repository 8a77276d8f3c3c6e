import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, link, mkdir, open, readdir, realpath, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  InvalidArgumentError,
  NotFoundError,
  RegionStoreError,
  StorageError,
  failpoint,
} from '@regionstore/core';
import { checkObjectName, checkRange, sizeMismatch } from './object-name';
import type { ExternalStorage, StorageObject, WriteOptions } from './storage';

/** Names of in-flight writes; never listed, never read. */
const TEMP_PREFIX = '.rs-tmp-';

function storageError(what: string, err: unknown, details: Record<string, unknown>): RegionStoreError {
  if (err instanceof RegionStoreError) return err;
  return new StorageError(`${what}: ${(err as Error).message}`, details, { cause: err });
}

/**
 * Objects as files under a root directory. A write goes to a temp file in the target's directory,
 * is fsynced, then renamed over the final name (and the directory fsynced), so a crash at any point
 * leaves either the old object or the new one, never half of one.
 */
export class LocalStorage implements ExternalStorage {
  private realRoot: Promise<string> | undefined;

  constructor(readonly root: string) {}

  /**
   * The root, symlinks resolved. Only a write creates it: reading from a directory that does not exist
   * (a restore from a mistyped path) finds nothing, and leaves no directory behind.
   */
  private async rootReal(create: boolean): Promise<string> {
    if (this.realRoot) return this.realRoot;
    if (create) await mkdir(this.root, { recursive: true });
    else if (!(await stat(this.root).catch(() => undefined))) return this.root;
    this.realRoot = realpath(this.root);
    return this.realRoot;
  }

  /** The path of `name`, after checking that neither the name nor a symlink leads outside the root. */
  private async resolve(name: string, createParents: boolean): Promise<string> {
    checkObjectName(name);
    const root = await this.rootReal(createParents);
    const path = join(root, ...name.split('/'));
    const parent = dirname(path);
    if (createParents) await mkdir(parent, { recursive: true });
    const realParent = await realpath(parent).catch(() => parent);
    let real = join(realParent, path.slice(parent.length + 1));
    real = await realpath(real).catch(() => real);
    const inside = relative(root, real);
    if (inside === '' || inside.startsWith('..') || inside.startsWith(sep)) {
      throw new InvalidArgumentError(
        `object name ${JSON.stringify(name)} resolves outside the storage root`,
        { name },
      );
    }
    return real;
  }

  async write(
    name: string,
    data: Readable | AsyncIterable<Buffer>,
    options: WriteOptions = {},
  ): Promise<{ size: number }> {
    const path = await this.resolve(name, true);
    const temp = join(dirname(path), `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`);
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        size += chunk.length;
        done(null, chunk);
      },
    });
    try {
      await pipeline(data, counter, createWriteStream(temp, { flags: 'wx' }));
      if (options.size !== undefined && size !== options.size) {
        throw sizeMismatch(name, size, options.size);
      }
      await fsyncPath(temp);
      // Tests stop the process here to prove a crash leaves no object under the final name.
      await failpoint('local_storage_before_rename');
      await rename(temp, path);
      await fsyncPath(dirname(path));
      return { size };
    } catch (err) {
      await rm(temp, { force: true });
      throw storageError(`write of ${name} to ${this.root} failed`, err, { name, root: this.root });
    }
  }

  /**
   * A hard link (the same bytes on disk, nothing copied), or a copy where the file system refuses
   * links; either lands under a temporary name and is renamed over `to`, so `to` is whole or absent.
   */
  async copy(from: string, to: string): Promise<{ size: number }> {
    const source = await this.existing(from);
    const path = await this.resolve(to, true);
    const temp = join(dirname(path), `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`);
    try {
      await link(source.path, temp).catch(async (err: NodeJS.ErrnoException) => {
        if (!['EXDEV', 'EPERM', 'ENOTSUP', 'EMLINK'].includes(err.code ?? '')) throw err;
        await copyFile(source.path, temp);
        await fsyncPath(temp);
      });
      await rename(temp, path);
      await fsyncPath(dirname(path));
      return { size: source.size };
    } catch (err) {
      // The source went meanwhile (a purge): missing, like a source that was never there.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !(await this.exists(from)))
        throw new NotFoundError(`object ${from} not found in ${this.url()}`, { name: from });
      throw storageError(`copy of ${from} to ${to} in ${this.root} failed`, err, {
        from,
        to,
        root: this.root,
      });
    } finally {
      // A rename onto a link of the same file does nothing and leaves the temporary name behind.
      await rm(temp, { force: true });
    }
  }

  private async existing(name: string): Promise<{ path: string; size: number }> {
    const path = await this.resolve(name, false);
    try {
      const info = await stat(path);
      if (!info.isFile()) throw new NotFoundError(`object ${name} not found in ${this.url()}`, { name });
      return { path, size: info.size };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new NotFoundError(`object ${name} not found in ${this.url()}`, { name });
      }
      throw storageError(`stat of ${name} failed`, err, { name });
    }
  }

  async read(name: string): Promise<Readable> {
    const { path } = await this.existing(name);
    return createReadStream(path);
  }

  async readRange(name: string, offset: number, length: number): Promise<Readable> {
    checkRange(offset, length);
    const { path, size } = await this.existing(name);
    const end = Math.min(offset + length, size) - 1;
    if (end < offset) return Readable.from([]);
    return createReadStream(path, { start: offset, end });
  }

  async *list(prefix = ''): AsyncIterable<StorageObject> {
    const root = await this.rootReal(false);
    const found: StorageObject[] = [];
    const walk = async (dir: string): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return [];
        throw storageError(`list of ${dir} failed`, err, { dir });
      });
      for (const entry of entries) {
        if (entry.name.startsWith(TEMP_PREFIX)) continue;
        const path = join(dir, entry.name);
        const name = relative(root, path).split(sep).join('/');
        if (entry.isDirectory()) {
          // Only descend where names could still match the prefix.
          if (prefix.startsWith(`${name}/`) || `${name}/`.startsWith(prefix) || name.startsWith(prefix))
            await walk(path);
        } else if (entry.isFile() && name.startsWith(prefix)) {
          // A file deleted since the readdir (a purge running beside the list) is not listed.
          const size = await stat(path).then(
            (s) => s.size,
            (err: NodeJS.ErrnoException) => {
              if (err.code === 'ENOENT') return undefined;
              throw storageError(`list of ${dir} failed`, err, { dir });
            },
          );
          if (size !== undefined) found.push({ name, size });
        }
      }
    };
    await walk(root);
    found.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    yield* found;
  }

  async exists(name: string): Promise<boolean> {
    try {
      await this.existing(name);
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  async delete(name: string): Promise<void> {
    const path = await this.resolve(name, false);
    try {
      await rm(path, { force: true });
    } catch (err) {
      throw storageError(`delete of ${name} failed`, err, { name });
    }
  }

  url(): string {
    return `local://${this.root}`;
  }
}

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

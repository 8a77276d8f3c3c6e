import type { Readable } from 'node:stream';
import { NotFoundError } from '@regionstore/core';
import { checkObjectName, consumeWrite } from './object-name';
import type { ExternalStorage, StorageObject, WriteOptions } from './storage';

/** Accepts every write and keeps nothing, like TiKV's noop backend: for measuring the read side alone. */
export class NoopStorage implements ExternalStorage {
  async write(
    name: string,
    data: Readable | AsyncIterable<Buffer>,
    options: WriteOptions = {},
  ): Promise<{ size: number }> {
    checkObjectName(name);
    return { size: await consumeWrite(name, data, options.size) };
  }

  async read(name: string): Promise<Readable> {
    throw new NotFoundError(`object ${checkObjectName(name)} not found: noop storage keeps nothing`, {
      name,
    });
  }

  async copy(from: string, to: string): Promise<{ size: number }> {
    checkObjectName(to);
    await this.read(from);
    return { size: 0 };
  }

  readRange(name: string): Promise<Readable> {
    return this.read(name);
  }

  async *list(): AsyncIterable<StorageObject> {
    // nothing is ever stored
  }

  async exists(name: string): Promise<boolean> {
    checkObjectName(name);
    return false;
  }

  async delete(name: string): Promise<void> {
    checkObjectName(name);
  }

  url(): string {
    return 'noop://';
  }
}

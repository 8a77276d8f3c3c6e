import { Readable } from 'node:stream';
import { NotFoundError } from '@regionstore/core';
import { checkObjectName, checkRange, consumeWrite } from './object-name';
import type { ExternalStorage, StorageObject, WriteOptions } from './storage';

const stores = new Map<string, Map<string, Buffer>>();

/** Process-local storage: `memory://name` gives the same objects to everyone in this process. */
export class MemoryStorage implements ExternalStorage {
  private readonly objects: Map<string, Buffer>;

  constructor(readonly storeName: string) {
    let store = stores.get(storeName);
    if (!store) {
      store = new Map();
      stores.set(storeName, store);
    }
    this.objects = store;
  }

  /** Forgets a named store (tests). */
  static drop(storeName: string): void {
    stores.delete(storeName);
  }

  async write(
    name: string,
    data: Readable | AsyncIterable<Buffer>,
    options: WriteOptions = {},
  ): Promise<{ size: number }> {
    checkObjectName(name);
    const chunks: Buffer[] = [];
    const size = await consumeWrite(name, data, options.size, (chunk) => chunks.push(chunk));
    this.objects.set(name, Buffer.concat(chunks, size));
    return { size };
  }

  private get(name: string): Buffer {
    const body = this.objects.get(checkObjectName(name));
    if (!body) throw new NotFoundError(`object ${name} not found in ${this.url()}`, { name });
    return body;
  }

  async copy(from: string, to: string): Promise<{ size: number }> {
    const body = this.get(from);
    this.objects.set(checkObjectName(to), body);
    return { size: body.length };
  }

  async read(name: string): Promise<Readable> {
    return Readable.from([this.get(name)]);
  }

  async readRange(name: string, offset: number, length: number): Promise<Readable> {
    checkRange(offset, length);
    return Readable.from([this.get(name).subarray(offset, offset + length)]);
  }

  async *list(prefix = ''): AsyncIterable<StorageObject> {
    const names = [...this.objects.keys()].filter((n) => n.startsWith(prefix)).sort();
    for (const name of names) {
      const body = this.objects.get(name);
      if (body) yield { name, size: body.length };
    }
  }

  async exists(name: string): Promise<boolean> {
    return this.objects.has(checkObjectName(name));
  }

  async delete(name: string): Promise<void> {
    this.objects.delete(checkObjectName(name));
  }

  url(): string {
    return `memory://${this.storeName}`;
  }
}

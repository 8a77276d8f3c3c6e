import type { Readable } from 'node:stream';

export interface StorageObject {
  /** The object's name relative to the storage root, `/`-separated. */
  name: string;
  size: number;
}

export interface WriteOptions {
  /** Expected byte count; a stream of another length fails the write and leaves no object. */
  size?: number;
}

/**
 * Where region snapshots, flush manifests and backups go. Every method streams: an object of any size
 * passes through in chunks. A write is all-or-nothing: readers see the whole object or none of it.
 * Missing objects: `read` and `readRange` fail with NotFound; `delete` of a missing object succeeds.
 */
export interface ExternalStorage {
  write(
    name: string,
    data: Readable | AsyncIterable<Buffer>,
    options?: WriteOptions,
  ): Promise<{ size: number }>;
  read(name: string): Promise<Readable>;
  readRange(name: string, offset: number, length: number): Promise<Readable>;
  /** Objects whose names start with `prefix`, in name order. */
  list(prefix?: string): AsyncIterable<StorageObject>;
  exists(name: string): Promise<boolean>;
  delete(name: string): Promise<void>;
  /**
   * Makes `to` an object with the bytes of `from`, all-or-nothing like a write, without the bytes
   * passing through this process where the backend allows (a hard link, a server-side copy), so a
   * split's halves can each own the parent's files at once. The two objects are independent after.
   */
  copy(from: string, to: string): Promise<{ size: number }>;
  /** The URL this storage was created from, with no credentials in it. */
  url(): string;
}

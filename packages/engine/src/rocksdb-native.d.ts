// Types for the parts of rocksdb-native (which ships none) that the engine uses.
declare module 'rocksdb-native' {
  import type { Readable } from 'node:stream';

  interface ColumnFamilyOptions {
    writeBufferSize?: number;
    maxWriteBufferNumber?: number;
  }

  interface OpenOptions extends ColumnFamilyOptions {
    columnFamilies?: string[];
    createIfMissing?: boolean;
    maxBackgroundJobs?: number;
  }

  interface Range {
    gt?: Buffer;
    gte?: Buffer;
    lt?: Buffer;
    lte?: Buffer;
    reverse?: boolean;
    limit?: number;
    values?: boolean;
  }

  interface ReadBatch {
    get(key: Buffer): Promise<Buffer | null>;
    flush(): Promise<void>;
    tryFlush(): void;
    destroy(): void;
  }

  interface WriteBatch {
    _db: RocksDB;
    tryPut(key: Buffer, value: Buffer): void;
    tryDelete(key: Buffer): void;
    tryDeleteRange(start: Buffer, end: Buffer): void;
    flush(): Promise<void>;
    destroy(): void;
  }

  class RocksDB {
    constructor(path: string, options?: OpenOptions);
    ready(): Promise<void>;
    close(options?: { force?: boolean }): Promise<void>;
    readonly closed: boolean;
    session(options?: { columnFamily?: string; snapshot?: boolean }): RocksDB;
    columnFamily(name: string): RocksDB;
    snapshot(): RocksDB;
    read(options?: { capacity?: number; autoDestroy?: boolean }): ReadBatch;
    write(options?: { capacity?: number; autoDestroy?: boolean }): WriteBatch;
    get(key: Buffer): Promise<Buffer | null>;
    iterator(
      range: Range,
      options?: { capacity?: number },
    ): Readable & AsyncIterable<{ key: Buffer; value: Buffer }>;
    flush(): Promise<void>;
    compactRange(start: Buffer | null, end: Buffer | null, options?: Record<string, unknown>): Promise<void>;
    approximateSize(
      start: Buffer,
      end: Buffer,
      options?: { includeMemtables?: boolean; includeFiles?: boolean },
    ): Promise<number>;
    getProperty(name: string): Promise<string | undefined>;
  }

  export = RocksDB;
}

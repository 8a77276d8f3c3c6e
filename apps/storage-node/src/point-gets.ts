import { mvccGetMany, type KvReader } from '@regionstore/engine';

interface Waiting {
  key: Buffer;
  resolve: (value: Buffer | undefined) => void;
  reject: (err: unknown) => void;
}

/**
 * Point gets at the latest timestamp that arrive within one tick of the event loop, answered from one
 * engine read batch: one trip to RocksDB's thread pool for all of them instead of one each.
 */
export class PointGets {
  private waiting: Waiting[] = [];

  constructor(private readonly reader: KvReader) {}

  get(key: Buffer): Promise<Buffer | undefined> {
    return new Promise((resolve, reject) => {
      if (this.waiting.push({ key, resolve, reject }) === 1) setImmediate(() => this.read());
    });
  }

  private read(): void {
    const batch = this.waiting;
    this.waiting = [];
    mvccGetMany(
      this.reader,
      batch.map((w) => w.key),
    ).then(
      (values) => batch.forEach((w, i) => w.resolve(values[i])),
      (err: unknown) => batch.forEach((w) => w.reject(err)),
    );
  }
}

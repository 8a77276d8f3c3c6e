import { mvccGetMany, type KvEngine, type KvReader } from '@regionstore/engine';

interface Waiting {
  keys: Buffer[];
  /** Several keys that must be read at one point (a batch get). */
  together: boolean;
  resolve: (values: Array<Buffer | undefined>) => void;
  reject: (err: unknown) => void;
}

/**
 * Reads at the latest timestamp that arrive within one tick of the event loop (point gets and batch
 * gets of any regions, from one `/v1/batch` or many requests), answered together: one read batch of
 * `latest` and one of the values in `default` (two trips to RocksDB's thread pool for all of them
 * instead of two each). When a batch get is among them, the reads run on one engine snapshot, so
 * each batch get sees its keys at one point.
 */
export class LatestReads {
  private waiting: Waiting[] = [];

  constructor(private readonly engine: KvReader & Pick<KvEngine, 'snapshot'>) {}

  async get(key: Buffer): Promise<Buffer | undefined> {
    return (await this.read([key], false))[0];
  }

  getMany(keys: Buffer[]): Promise<Array<Buffer | undefined>> {
    return this.read(keys, keys.length > 1);
  }

  private read(keys: Buffer[], together: boolean): Promise<Array<Buffer | undefined>> {
    return new Promise((resolve, reject) => {
      if (this.waiting.push({ keys, together, resolve, reject }) === 1) setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    const batch = this.waiting;
    this.waiting = [];
    let snapshot: ReturnType<KvEngine['snapshot']> | undefined;
    try {
      if (batch.some((w) => w.together)) snapshot = this.engine.snapshot();
      const values = await mvccGetMany(
        snapshot ?? this.engine,
        batch.flatMap((w) => w.keys),
      );
      let at = 0;
      for (const w of batch) {
        w.resolve(values.slice(at, at + w.keys.length));
        at += w.keys.length;
      }
    } catch (err) {
      for (const w of batch) w.reject(err);
    } finally {
      await snapshot?.release();
    }
  }
}

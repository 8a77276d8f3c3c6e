import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CancelledError, InvalidArgumentError } from '@regionstore/core';
import { TokenBucket } from 'limiter';
import type { ExternalStorage, StorageObject, WriteOptions } from './storage';

const MIN_BURST = 16 * 1024;

/**
 * A token bucket in bytes per second shared by every stream it wraps, so all of them together stay
 * under the rate. `Infinity` or 0 means unlimited. Waiting streams are served in arrival order.
 */
export class RateLimiter {
  private bucket: TokenBucket | undefined;
  private bytesPerSecond = Infinity;

  constructor(bytesPerSecond: number = Infinity) {
    this.setRate(bytesPerSecond);
  }

  get rate(): number {
    return this.bytesPerSecond;
  }

  /** Changes the rate for every stream, including the ones already running. */
  setRate(bytesPerSecond: number): void {
    if (Number.isNaN(bytesPerSecond) || bytesPerSecond < 0) {
      throw new InvalidArgumentError(
        `rate limit must be a non-negative number of bytes/s, got ${bytesPerSecond}`,
      );
    }
    this.bytesPerSecond = bytesPerSecond === 0 ? Infinity : bytesPerSecond;
    if (!Number.isFinite(this.bytesPerSecond)) {
      this.bucket = undefined;
      return;
    }
    // A tenth of a second of burst keeps streams smooth without a visible spike.
    const burst = Math.max(MIN_BURST, Math.floor(this.bytesPerSecond / 10));
    if (this.bucket) {
      this.bucket.tokensPerInterval = this.bytesPerSecond;
      this.bucket.bucketSize = burst;
      this.bucket.content = Math.min(this.bucket.content, burst);
    } else {
      this.bucket = new TokenBucket({
        bucketSize: burst,
        tokensPerInterval: this.bytesPerSecond,
        interval: 1000,
      });
    }
  }

  /** Waits until `bytes` may pass; once `signal` aborts, fails with CancelledError at the next bucketful. */
  async acquire(bytes: number, signal?: AbortSignal): Promise<void> {
    let left = bytes;
    while (left > 0) {
      const bucket = this.bucket;
      if (!bucket) return;
      if (signal?.aborted) throw new CancelledError('rate-limited transfer cancelled');
      const take = Math.min(left, bucket.bucketSize);
      await bucket.removeTokens(take);
      left -= take;
    }
  }

  /**
   * A pass-through stream that holds each chunk until the limiter lets it go; once `signal` aborts,
   * the next chunk fails it with CancelledError instead of waiting its turn.
   */
  limit(signal?: AbortSignal): Transform {
    return new Transform({
      transform: (chunk: Buffer, _encoding, done) => {
        this.acquire(chunk.length, signal).then(
          () => done(null, chunk),
          (err: Error) => done(err),
        );
      },
    });
  }

  /** `source` piped through `limit(signal)`; destroying the result also stops the source. */
  wrap(source: Readable | AsyncIterable<Buffer>, signal?: AbortSignal): Readable {
    const limited = this.limit(signal);
    pipeline(source, limited).catch((err: Error) => limited.destroy(err));
    return limited;
  }
}

/**
 * A storage whose writes and reads all pass through one shared limiter; once `signal` aborts, its
 * transfers fail at their next chunk instead of draining at the rate.
 */
export class RateLimitedStorage implements ExternalStorage {
  constructor(
    private readonly inner: ExternalStorage,
    readonly limiter: RateLimiter,
    private readonly signal?: AbortSignal,
  ) {}

  write(
    name: string,
    data: Readable | AsyncIterable<Buffer>,
    options?: WriteOptions,
  ): Promise<{ size: number }> {
    return this.inner.write(name, this.limiter.wrap(data, this.signal), options);
  }

  async read(name: string): Promise<Readable> {
    return this.limiter.wrap(await this.inner.read(name), this.signal);
  }

  async readRange(name: string, offset: number, length: number): Promise<Readable> {
    return this.limiter.wrap(await this.inner.readRange(name, offset, length), this.signal);
  }

  list(prefix?: string): AsyncIterable<StorageObject> {
    return this.inner.list(prefix);
  }

  exists(name: string): Promise<boolean> {
    return this.inner.exists(name);
  }

  delete(name: string): Promise<void> {
    return this.inner.delete(name);
  }

  /** Not limited: the bytes do not pass through this process. */
  copy(from: string, to: string): Promise<{ size: number }> {
    return this.inner.copy(from, to);
  }

  url(): string {
    return this.inner.url();
  }
}

import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InvalidArgumentError } from '@regionstore/core';
import { MemoryStorage, RateLimitedStorage, RateLimiter } from '@regionstore/storage-backends';

function source(total: number, chunk = 64 * 1024): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) return this.push(null);
      const n = Math.min(chunk, total - sent);
      sent += n;
      this.push(Buffer.alloc(n));
    },
  });
}

function sink(): Writable {
  return new Writable({
    write(_chunk, _enc, done) {
      done();
    },
  });
}

describe('RateLimiter', () => {
  it('keeps two streams sharing it under the rate together (within 10 %, over more than 2 s)', async () => {
    const rate = 1024 * 1024;
    const limiter = new RateLimiter(rate);
    const each = 1.25 * 1024 * 1024;
    const started = Date.now();
    await Promise.all([
      pipeline(source(each), limiter.limit(), sink()),
      pipeline(source(each), limiter.limit(), sink()),
    ]);
    const seconds = (Date.now() - started) / 1000;
    const achieved = (2 * each) / seconds;
    // The bucket starts empty, so 2.5 MiB at 1 MiB/s takes at least ~2.5 s.
    expect(achieved).toBeLessThanOrEqual(rate * 1.1);
    // And it is a limit, not a stall.
    expect(achieved).toBeGreaterThan(rate * 0.5);
  });

  it('splits chunks larger than its burst and lets unlimited streams through untouched', async () => {
    const limiter = new RateLimiter(64 * 1024);
    const started = Date.now();
    await pipeline(source(96 * 1024, 96 * 1024), limiter.limit(), sink());
    expect(Date.now() - started).toBeGreaterThanOrEqual(1300);
    const open = new RateLimiter(0);
    expect(open.rate).toBe(Infinity);
    await pipeline(source(64 * 1024 * 1024), open.limit(), sink());
  });

  it('changes its rate while streams run', async () => {
    const limiter = new RateLimiter(32 * 1024);
    const started = Date.now();
    const run = pipeline(source(1024 * 1024, 16 * 1024), limiter.limit(), sink());
    await new Promise((r) => setTimeout(r, 200));
    limiter.setRate(Infinity);
    await run;
    // At 32 KiB/s the 1 MiB would take 32 s; lifting the limit finishes it at once.
    expect(Date.now() - started).toBeLessThan(5000);
    expect(() => limiter.setRate(-1)).toThrow(InvalidArgumentError);
  });

  it('limits writes through a storage wrapper', async () => {
    const storage = new RateLimitedStorage(
      new MemoryStorage(`limited-${process.pid}`),
      new RateLimiter(256 * 1024),
    );
    const started = Date.now();
    await storage.write('x', source(320 * 1024));
    expect(Date.now() - started).toBeGreaterThanOrEqual(1100);
    expect(await storage.exists('x')).toBe(true);
    MemoryStorage.drop(`limited-${process.pid}`);
  });

  it('fails a transfer at its next chunk once its signal aborts, instead of draining at the rate', async () => {
    const name = `cancelled-${process.pid}`;
    const cancel = new AbortController();
    const storage = new RateLimitedStorage(
      new MemoryStorage(name),
      new RateLimiter(32 * 1024),
      cancel.signal,
    );
    // 1 MiB at 32 KiB/s: half a minute unless cancelled.
    const writing = storage.write('x', source(1024 * 1024, 16 * 1024));
    setTimeout(() => cancel.abort(), 200);
    await expect(writing).rejects.toMatchObject({ code: 'Cancelled' });
    expect(await storage.exists('x')).toBe(false);
    MemoryStorage.drop(name);
  });
});

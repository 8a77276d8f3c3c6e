// Load shapes shared by the benchmarks: concurrent request loops and raw disk baselines.
import { closeSync, createReadStream, createWriteStream, fsyncSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { timed } from './report.mjs';

/**
 * `concurrency` loops that together issue about `total` operations in requests of `perRequest`
 * (`request(loop, i)`); returns operations per second.
 */
export async function concurrently(total, perRequest, concurrency, request) {
  const perLoop = Math.max(1, Math.floor(total / perRequest / concurrency));
  const seconds = await timed(() =>
    Promise.all(
      Array.from({ length: concurrency }, async (_, loop) => {
        for (let i = 0; i < perLoop; i++) await request(loop, i);
      }),
    ),
  );
  return (perLoop * concurrency * perRequest) / seconds;
}

/** Writes `bytes` sequentially to `file` and fsyncs it; returns MB/s. */
export async function rawDiskWrite(file, bytes) {
  mkdirSync(dirname(file), { recursive: true });
  const chunk = Buffer.alloc(1024 * 1024, 5);
  const seconds = await timed(async () => {
    await pipeline(
      Readable.from(
        (function* () {
          for (let i = 0; i < bytes; i += chunk.length) yield chunk;
        })(),
      ),
      createWriteStream(file),
    );
    const fd = openSync(file, 'r+');
    fsyncSync(fd);
    closeSync(fd);
  });
  return bytes / 1e6 / seconds;
}

/** Reads `file` sequentially; returns MB/s for `bytes`. */
export async function rawDiskRead(file, bytes) {
  const seconds = await timed(async () => {
    for await (const _ of createReadStream(file, { highWaterMark: 1024 * 1024 })) void _;
  });
  return bytes / 1e6 / seconds;
}

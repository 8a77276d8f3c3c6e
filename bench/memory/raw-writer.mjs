// The memory benchmark's baseline: raw rocksdb-native in a process of its own, taking the same puts a
// storage node took (16 × 256-byte values per batch, 64 batches in flight). Prints `measuring` after
// WARMUP_PUTS puts and `done` after PUTS more, then waits for stdin to close, so the parent can read
// its RSS up to the end.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import RocksDB from 'rocksdb-native';

const WARMUP_PUTS = Number(process.env.WARMUP_PUTS);
const PUTS = Number(process.env.PUTS);
const KEY_SPACE = 500_000;
const BATCH = 16;
const VALUE = Buffer.alloc(256, 3);
const dir = mkdtempSync(join(tmpdir(), 'regionstore-bench-memory-raw-'));
const db = new RocksDB(dir);
await db.ready();

let written = 0;
async function writeUntil(target) {
  await Promise.all(
    Array.from({ length: 64 }, async (_, loop) => {
      for (let i = 0; written < target; i++) {
        const batch = db.write();
        const base = (loop * 7919 + i * BATCH * 64) % KEY_SPACE;
        for (let j = 0; j < BATCH; j++) batch.put(Buffer.from(`mem-${(base + j) % KEY_SPACE}`), VALUE);
        written += BATCH;
        await batch.flush();
        batch.destroy();
      }
    }),
  );
}

await writeUntil(WARMUP_PUTS);
process.stdout.write('measuring\n');
const started = Date.now();
await writeUntil(WARMUP_PUTS + PUTS);
process.stdout.write(`done ${(Date.now() - started) / 1000}\n`);
process.stdin.resume();
process.stdin.on('end', async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

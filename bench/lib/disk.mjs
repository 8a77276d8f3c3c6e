import { lstat, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';

/**
 * Apparent bytes (`du -sb`) of every file under `dir`, each inode once as du counts it (a split child's
 * copies of its parent's objects are hard links), and per file `{rel, size, ino, mtimeMs}` when asked.
 */
export async function du(dir, files) {
  let total = 0;
  const counted = new Set();
  const walk = async (path) => {
    let entries;
    try {
      entries = await readdir(path, { withFileTypes: true });
    } catch (err) {
      if (err.code === 'ENOENT') return;
      throw err;
    }
    for (const entry of entries) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) {
        await walk(full);
        continue;
      }
      try {
        const stat = await lstat(full);
        if (!counted.has(stat.ino)) total += stat.size;
        counted.add(stat.ino);
        files?.push({
          rel: relative(dir, full),
          name: entry.name,
          size: stat.size,
          ino: stat.ino,
          mtimeMs: stat.mtimeMs,
        });
      } catch (err) {
        if (err.code !== 'ENOENT') throw err; // RocksDB or a purge removed it meanwhile
      }
    }
  };
  await walk(dir);
  return total;
}

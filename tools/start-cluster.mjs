// `npm start`: the local cluster (metasrv on :4000 and storage nodes on :4101-4103, separate processes).
// The apps do not exist yet; until they do this says so and exits non-zero instead of pretending.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureRedis } from './ensure-redis.mjs';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const apps = ['metasrv', 'storage-node'].map((name) => join(repoRoot, 'apps', name, 'package.json'));

const missing = apps.filter((file) => !existsSync(file));
if (missing.length > 0) {
  console.error(
    'npm start: the cluster apps (apps/metasrv, apps/storage-node) are not built yet in this version of ' +
      'RegionStore, so there is no cluster to start. The packages can be used and tested on their own (npm test).',
  );
  process.exit(1);
}

const { url } = await ensureRedis((msg) => console.log(msg));
console.log(`Redis: ${url}`);

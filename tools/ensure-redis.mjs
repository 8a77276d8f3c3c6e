// Makes sure a Redis answers for the cluster and the tests.
//
//   node tools/ensure-redis.mjs          prints the URL to use (last line of stdout)
//   node tools/ensure-redis.mjs --stop   stops a redis-server this script started
//
// It pings REDIS_URL (default redis://127.0.0.1:6379). If nothing answers and `redis-server` is
// installed, it starts one on a free loopback port with its data under .data/redis, and prints that
// URL instead. Exit 2 means no Redis answers and none can be started (install Debian `redis-server`).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';

const { freePort } = createRequire(import.meta.url)('./cluster.cjs');
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = join(repoRoot, '.data', 'redis');
const stateFile = join(dataDir, 'started.json');

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export async function ping(url, timeoutMs = 1500) {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/** Whether the Redis at `url` keeps an AOF (what the nodes' default `wal.durability: everysec` needs). */
export async function hasAof(url) {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const [, appendonly] = await redis.config('GET', 'appendonly');
    const [, appendfsync] = await redis.config('GET', 'appendfsync');
    return appendonly === 'yes' && ['always', 'everysec'].includes(appendfsync);
  } catch {
    return false; // no CONFIG (managed Redis): the nodes say what to do
  } finally {
    redis.disconnect();
  }
}

function hasRedisServer() {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * Returns a URL where Redis answers, starting a local redis-server when needed. `durable`: a Redis
 * without an AOF (Debian's default) does not do either; unless REGIONSTORE_WAL__DURABILITY says
 * otherwise, a redis-server of our own with AOF is started beside it.
 */
export async function ensureRedis(log = (msg) => process.stderr.write(`${msg}\n`), { durable = false } = {}) {
  const url = process.env.REDIS_URL || DEFAULT_REDIS_URL;
  const acceptable = async (candidate) =>
    (await ping(candidate)) &&
    (!durable || process.env.REGIONSTORE_WAL__DURABILITY || (await hasAof(candidate)));
  if (await acceptable(url)) return { url, started: false };
  if (durable && (await ping(url))) {
    log(
      `the Redis at ${url} keeps no AOF (appendonly no): the nodes would refuse it (wal.durability everysec); ` +
        'starting a redis-server of our own with AOF (or set REGIONSTORE_WAL__DURABILITY=unsafe to use it anyway)',
    );
  }
  if (existsSync(stateFile)) {
    const previous = JSON.parse(readFileSync(stateFile, 'utf8'));
    if (await acceptable(previous.url)) return { url: previous.url, started: false };
  }
  if (!hasRedisServer()) {
    const err = new Error(
      `${(await ping(url)) ? `the Redis at ${url} keeps no AOF` : `no Redis answers at ${url}`} and redis-server is not installed.\n` +
        'Install it (Debian/Ubuntu: sudo apt-get install -y redis-server; macOS: brew install redis) ' +
        'or set REDIS_URL to a running Redis 7 (with appendonly yes, or REGIONSTORE_WAL__DURABILITY=unsafe).',
    );
    err.exitCode = 2;
    throw err;
  }
  const port = await freePort();
  mkdirSync(dataDir, { recursive: true });
  execFileSync('redis-server', [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dataDir,
    '--daemonize',
    'yes',
    '--pidfile',
    join(dataDir, `redis-${port}.pid`),
    '--logfile',
    join(dataDir, `redis-${port}.log`),
    '--save',
    '',
    '--appendonly',
    'yes',
    '--appendfilename',
    `appendonly-${port}.aof`,
    '--appendfsync',
    'everysec',
    '--maxmemory-policy',
    'noeviction',
  ]);
  const startedUrl = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 50; i++) {
    if (await ping(startedUrl)) {
      writeFileSync(
        stateFile,
        JSON.stringify({ url: startedUrl, port, pidFile: join(dataDir, `redis-${port}.pid`) }),
      );
      log(`started redis-server on ${startedUrl} (data in ${dataDir})`);
      return { url: startedUrl, started: true };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `started redis-server on port ${port} but it does not answer; see ${dataDir}/redis-${port}.log`,
  );
}

export function stopStartedRedis() {
  if (!existsSync(stateFile)) return false;
  const { pidFile } = JSON.parse(readFileSync(stateFile, 'utf8'));
  if (existsSync(pidFile)) {
    try {
      process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGTERM');
    } catch {
      // already gone
    }
  }
  rmSync(stateFile, { force: true });
  return true;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv.includes('--stop')) {
    process.exit(stopStartedRedis() ? 0 : 1);
  }
  ensureRedis()
    .then(({ url }) => console.log(url))
    .catch((err) => {
      console.error(`ensure-redis: ${err.message}`);
      process.exit(err.exitCode ?? 1);
    });
}

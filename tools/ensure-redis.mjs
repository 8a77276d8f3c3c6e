// Makes sure a Redis answers for the cluster and the tests.
//
//   node tools/ensure-redis.mjs          prints the URL to use (last line of stdout)
//   node tools/ensure-redis.mjs --stop   stops the redis-server this script starts (its data stays)
//
// It pings REDIS_URL (default redis://127.0.0.1:6379). If nothing answers and `redis-server` is
// installed, it runs a redis-server of its own on loopback and prints that URL instead. That Redis
// keeps one data set across restarts: always the same directory (REGIONSTORE_REDIS_DIR, default
// .data/redis) and the same AOF (appendonly.aof; Redis 7 keeps it in appendonlydir/), and the port it
// had last time (redis.json), unless something else took that port. A Redis of its own that still
// runs (the launcher was killed -9) is used again. Exit 2 means no Redis answers and none can be
// started (install Debian `redis-server`).
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';

const { freePort, processAlive: alive } = createRequire(import.meta.url)('./cluster.cjs');
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
export const DEFAULT_REDIS_DIR = join(repoRoot, '.data', 'redis');
/** The one AOF of the Redis this script runs (earlier versions named one per port). */
const AOF_NAME = 'appendonly.aof';
/** AOFs of earlier versions of this script: `appendonly-<port>.aof` (and its Redis 7 parts). */
const LEGACY_AOF = /^(appendonly-\d+\.aof)(\.|$)/;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(check, what, timeoutMs = 300_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Where the Redis this script runs keeps its data: `dir`, else REGIONSTORE_REDIS_DIR, else .data/redis. */
export function redisDir(dir) {
  return resolve(dir || process.env.REGIONSTORE_REDIS_DIR || DEFAULT_REDIS_DIR);
}

const files = (dir) => ({
  state: join(dir, 'redis.json'), // {port}: kept when the Redis stops, so the next start takes it again
  legacyState: join(dir, 'started.json'), // earlier versions: {url, port, pidFile} while one ran
  pid: join(dir, 'redis.pid'),
  log: join(dir, 'redis.log'),
});

/** `path` relative to the working directory when it is inside it (`.data/redis/appendonlydir`). */
export function shortPath(path) {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') ? rel : path;
}

function connection(url, timeoutMs) {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  redis.on('error', () => undefined);
  return redis;
}

/** Runs `fn` on a short-lived connection; undefined when Redis does not answer (or `fn` fails). */
async function ask(url, fn, timeoutMs = 1500) {
  const redis = connection(url, timeoutMs);
  try {
    await redis.connect();
    return await fn(redis);
  } catch {
    return undefined;
  } finally {
    redis.disconnect();
  }
}

export async function ping(url, timeoutMs = 1500) {
  return (await ask(url, (redis) => redis.ping(), timeoutMs)) === 'PONG';
}

/**
 * The persistence settings of the Redis at `url`: `{appendonly, appendfsync}`, or undefined when it
 * does not answer or allows no CONFIG (a managed Redis).
 */
export async function aofSettings(url) {
  return ask(url, async (redis) => {
    const [, appendonly] = await redis.config('GET', 'appendonly');
    const [, appendfsync] = await redis.config('GET', 'appendfsync');
    return { appendonly, appendfsync };
  });
}

/** Whether the Redis at `url` keeps an AOF (what the nodes' default `wal.durability: everysec` needs). */
export async function hasAof(url) {
  const aof = await aofSettings(url);
  // no CONFIG (managed Redis): false, and the nodes say what to do
  return aof?.appendonly === 'yes' && ['always', 'everysec'].includes(aof.appendfsync);
}

/** What the console says about a Redis the cluster is pointed at (REDIS_URL). */
export async function describeExternal(url) {
  const aof = await aofSettings(url);
  if (!aof) return 'REDIS_URL; whether it keeps an AOF is unknown (CONFIG GET is not allowed)';
  if (aof.appendonly !== 'yes')
    return 'REDIS_URL; it keeps no AOF (appendonly no): a restart of that Redis loses the cluster';
  return `REDIS_URL; it keeps an AOF (appendfsync ${aof.appendfsync})`;
}

function redisServerVersion() {
  const result = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (result.status !== 0) return undefined;
  return Number(/v=(\d+)/.exec(result.stdout)?.[1] ?? 0);
}

/** Where the AOF lives: Redis 7 keeps its parts in appendonlydir/, older ones one file in the dir. */
function aofPath(dir, version) {
  return version >= 7 ? join(dir, 'appendonlydir') : join(dir, AOF_NAME);
}

function aofExists(dir) {
  return existsSync(join(dir, 'appendonlydir', `${AOF_NAME}.manifest`)) || existsSync(join(dir, AOF_NAME));
}

/** The per-port AOFs of earlier versions in `dir`, newest first: `{name, mtimeMs}`. */
function legacyAofs(dir) {
  const found = new Map();
  for (const sub of [dir, join(dir, 'appendonlydir')]) {
    const entries = existsSync(sub) ? readdirSync(sub) : [];
    for (const entry of entries) {
      const name = LEGACY_AOF.exec(entry)?.[1];
      if (!name) continue;
      const mtimeMs = statSync(join(sub, entry)).mtimeMs;
      found.set(name, Math.max(found.get(name) ?? 0, mtimeMs));
    }
  }
  return [...found].map(([name, mtimeMs]) => ({ name, mtimeMs })).sort((a, b) => b.mtimeMs - a.mtimeMs);
}

function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The pid of the redis-server on `port` if it keeps its data in `dir` (one of ours), else undefined. */
async function oursOn(port, dir) {
  const url = `redis://127.0.0.1:${port}`;
  const info = await ask(url, async (redis) => {
    const [, serving] = await redis.config('GET', 'dir');
    const server = await redis.info('server');
    return { serving, pid: Number(/^process_id:(\d+)/m.exec(server)?.[1]) };
  });
  if (!info) return undefined;
  let wanted = dir;
  try {
    wanted = realpathSync(dir);
  } catch {
    // no such directory yet: nothing of ours runs there
  }
  return info.serving === wanted ? info.pid : undefined;
}

function portFree(port) {
  return new Promise((resolvePort) => {
    const server = createServer();
    server.once('error', () => resolvePort(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePort(true)));
  });
}

/** SIGTERM (Redis writes its AOF out and exits) and waits until the process is gone. */
async function terminate(pid, port, timeoutMs = 30_000) {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return; // already gone
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && (alive(pid) || (await ping(`redis://127.0.0.1:${port}`, 300)))) {
    await sleep(50);
  }
}

function logTail(file) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-10).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Starts a redis-server (not a child that dies with this process); resolves once it answers. */
async function startServer(args, { port, log, what }) {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', ...args], {
    detached: true,
    stdio: 'ignore',
  });
  child.unref();
  let exit;
  child.once('exit', (code, signal) => (exit = signal ? `signal ${signal}` : `code ${code}`));
  child.once('error', (err) => (exit = err.message));
  const url = `redis://127.0.0.1:${port}`;
  // Loading a large AOF takes a while (Redis answers LOADING meanwhile).
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (exit) break;
    if (await ping(url, 500)) return { url, pid: child.pid };
    await sleep(50);
  }
  if (!exit) child.kill('SIGKILL');
  throw new Error(
    `${what} on port ${port} ${exit ? `exited (${exit})` : 'does not answer'}` +
      (log ? `; the end of ${log}:\n${logTail(log)}` : ''),
  );
}

/**
 * Copies the data set of an earlier version's per-port AOF into the Redis at `url` (just started on
 * the new, empty AOF): a second redis-server loads the old AOF, the new one replicates from it once
 * and rewrites its AOF. The old files are kept.
 */
async function importLegacyAof(url, dir, name) {
  const port = await freePort();
  const source = await startServer(
    [
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'yes',
      '--appendfilename',
      name,
      '--repl-diskless-sync',
      'yes',
      '--repl-diskless-sync-delay',
      '0',
    ],
    { port, what: `a redis-server to read ${name}` },
  );
  const redis = connection(url, 2000);
  try {
    await redis.connect();
    const keys = await ask(source.url, (r) => r.dbsize());
    await redis.config('SET', 'repl-diskless-load', 'on-empty-db');
    await redis.replicaof('127.0.0.1', String(port));
    await until(async () => {
      const replication = await redis.info('replication');
      return /^master_link_status:up/m.test(replication) && /^master_sync_in_progress:0/m.test(replication);
    }, 'the copy');
    await redis.replicaof('NO', 'ONE');
    await redis.call('BGREWRITEAOF').catch(() => undefined); // only scheduled if the sync started one
    await until(async () => {
      const persistence = await redis.info('persistence');
      if (/^aof_last_bgrewrite_status:err/m.test(persistence)) throw new Error('the AOF rewrite failed');
      return /^aof_rewrite_in_progress:0/m.test(persistence) && /^aof_rewrite_scheduled:0/m.test(persistence);
    }, 'the AOF rewrite');
    const imported = await redis.dbsize();
    if (imported !== keys) throw new Error(`${name} holds ${keys} keys, the import got ${imported}`);
    return imported;
  } finally {
    redis.disconnect();
    await terminate(source.pid, port);
  }
}

/**
 * Returns where Redis answers: `{url, started, own, dir?, dataPath?, note?}`. `own`: the redis-server
 * of this script (in `dir`), `started` if this call started it. `durable`: a Redis without an AOF
 * (Debian's default) does not do either; unless REGIONSTORE_WAL__DURABILITY says otherwise, a
 * redis-server of our own with AOF is started beside it. `dir`: where that one keeps its data
 * (default: REGIONSTORE_REDIS_DIR, else .data/redis).
 */
export async function ensureRedis(
  log = (msg) => process.stderr.write(`${msg}\n`),
  { durable = false, dir: wantedDir } = {},
) {
  const url = process.env.REDIS_URL || DEFAULT_REDIS_URL;
  const acceptable = async (candidate) =>
    (await ping(candidate)) &&
    (!durable || process.env.REGIONSTORE_WAL__DURABILITY || (await hasAof(candidate)));
  if (await acceptable(url)) return { url, started: false, own: false };
  const answers = await ping(url);
  if (durable && answers) {
    log(
      `the Redis at ${url} keeps no AOF (appendonly no): the nodes would refuse it (wal.durability everysec); ` +
        'using a redis-server of our own with AOF (or set REGIONSTORE_WAL__DURABILITY=unsafe to use it anyway)',
    );
  }
  const dir = redisDir(wantedDir);
  const file = files(dir);
  const version = redisServerVersion();
  const dataPath = aofPath(dir, version ?? 7);
  const remembered = readJson(file.state)?.port;

  // Ours still runs (the launcher was killed -9, or `npm run redis` started it): use it again.
  if (remembered && (await oursOn(remembered, dir))) {
    const ownUrl = `redis://127.0.0.1:${remembered}`;
    log(`the redis-server on ${ownUrl} (data in ${shortPath(dataPath)}) still runs: using it again`);
    return { url: ownUrl, started: false, own: true, dir, dataPath };
  }
  // An earlier version's Redis still runs, on an AOF of its own: stop it, its AOF is taken over below.
  const legacy = readJson(file.legacyState);
  if (legacy?.port) {
    const pid = await oursOn(legacy.port, dir);
    if (pid) {
      log(
        `stopping the redis-server an earlier version started on port ${legacy.port}, to take over its data`,
      );
      await terminate(pid, legacy.port);
    }
  }
  rmSync(file.legacyState, { force: true });

  if (version === undefined) {
    const err = new Error(
      `${answers ? `the Redis at ${url} keeps no AOF` : `no Redis answers at ${url}`} and redis-server is not installed.\n` +
        'Install it (Debian/Ubuntu: sudo apt-get install -y redis-server; macOS: brew install redis) ' +
        'or set REDIS_URL to a running Redis 7 (with appendonly yes, or REGIONSTORE_WAL__DURABILITY=unsafe).',
    );
    err.exitCode = 2;
    throw err;
  }

  let port = remembered;
  let note = '';
  if (!port) port = await freePort();
  else if (!(await portFree(port))) {
    port = await freePort();
    note = `; port ${remembered}, its port before, is taken by something else: a new port, the same data set`;
  }
  mkdirSync(dir, { recursive: true });
  const fresh = !aofExists(dir);
  const old = legacyAofs(dir);
  const started = await startServer(
    [
      '--dir',
      dir,
      '--pidfile',
      file.pid,
      '--logfile',
      file.log,
      '--save',
      '',
      '--appendonly',
      'yes',
      '--appendfilename',
      AOF_NAME,
      '--appendfsync',
      'everysec',
      '--maxmemory-policy',
      'noeviction',
    ],
    { port, log: file.log, what: 'redis-server' },
  );
  writeFileSync(file.state, `${JSON.stringify({ port })}\n`);
  log(`started redis-server on ${started.url} (data in ${shortPath(dataPath)}, kept across restarts${note})`);

  if (old.length > 0) {
    const list = old.map((o) => o.name).join(', ');
    if (fresh) {
      // The data set of the last run of an earlier version, which named one AOF per port.
      const newest = old[0];
      try {
        const keys = await importLegacyAof(started.url, dir, newest.name);
        log(
          `imported ${keys} keys from ${newest.name} (an earlier version's AOF, written ` +
            `${new Date(newest.mtimeMs).toISOString()}) into ${AOF_NAME}; ${list} in ${shortPath(dir)} ` +
            'are no longer used (kept: delete them once you no longer need them)',
        );
      } catch (err) {
        // Without the new AOF the next start tries the import again (it holds nothing else yet).
        await terminate(started.pid, port);
        const parts = existsSync(join(dir, 'appendonlydir')) ? readdirSync(join(dir, 'appendonlydir')) : [];
        for (const part of parts.filter((p) => p.startsWith(`${AOF_NAME}.`)))
          rmSync(join(dir, 'appendonlydir', part), { force: true });
        rmSync(join(dir, AOF_NAME), { force: true });
        throw new Error(
          `could not import ${newest.name} (an earlier version's AOF) into ${AOF_NAME}: ${err.message}; ` +
            `the old files are untouched in ${dir}`,
          { cause: err },
        );
      }
    } else {
      log(
        `${list} in ${shortPath(dir)}: AOFs of an earlier version, no longer used ` +
          `(the data set is ${AOF_NAME}; delete them once you no longer need them)`,
      );
    }
  }
  return { url: started.url, started: true, own: true, dir, dataPath };
}

/**
 * Stops the redis-server this script runs in `dir` (default as in ensureRedis) and waits until it is
 * gone; its data and remembered port stay. Resolves false when none ran.
 */
export async function stopStartedRedis({ dir: wantedDir } = {}) {
  const dir = redisDir(wantedDir);
  const file = files(dir);
  let stopped = false;
  for (const port of [readJson(file.state)?.port, readJson(file.legacyState)?.port]) {
    if (!port) continue;
    const pid = await oursOn(port, dir);
    if (pid) {
      await terminate(pid, port);
      stopped = true;
    }
  }
  rmSync(file.legacyState, { force: true });
  return stopped;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv.includes('--stop')) {
    process.exit((await stopStartedRedis()) ? 0 : 1);
  }
  ensureRedis()
    .then(({ url }) => console.log(url))
    .catch((err) => {
      console.error(`ensure-redis: ${err.message}`);
      process.exit(err.exitCode ?? 1);
    });
}

// Starts and stops a local RegionStore cluster as separate processes (the built apps): one metasrv and
// N storage nodes sharing one Redis (under its own key prefix) and one local object store. Used by
// `npm start`, the end-to-end tests and the system benchmarks.
'use strict';
const { spawn } = require('node:child_process');
const { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } = require('node:fs');
const { createServer } = require('node:net');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');

const repoRoot = resolve(__dirname, '..');
/** A storage node's exit code when it refuses the cluster Redis names (apps/storage-node/src/main.ts). */
const EXIT_CLUSTER_REFUSED = 78;
const METASRV = join(repoRoot, 'apps', 'metasrv', 'dist', 'main.js');
const NODE = join(repoRoot, 'apps', 'storage-node', 'dist', 'main.js');

function spawnApp(script, env, logFile, inheritOutput, nodeFlags = []) {
  const out = inheritOutput ? 'inherit' : openSync(logFile, 'a');
  return spawn(process.execPath, [...nodeFlags, script], {
    // Children stop by themselves if this process dies without stopping them (kill -9, a lost terminal).
    env: { ...process.env, REGIONSTORE_EXIT_WITH_PARENT: '1', ...env },
    stdio: ['ignore', out, out],
  });
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
function processAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A TCP port free on the loopback address right now. */
function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/** The last `count` lines of a log file, for an error message (pino JSON lines shown as their msg). */
function lastLines(file, count) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return '(no log)';
  }
  return text
    .trimEnd()
    .split('\n')
    .slice(-count)
    .map((line) => {
      try {
        const { msg, err } = JSON.parse(line);
        return `  ${msg ?? line}${err?.message ? `: ${err.message}` : ''}`;
      } catch {
        return `  ${line}`;
      }
    })
    .join('\n');
}

async function waitFor(check, what, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

/**
 * @param {{dir: string, redisUrl: string, prefix: string, nodes?: number, metasrvPort?: number,
 *          nodePorts?: number[], initialRegions?: number, logLevel?: string, inheritOutput?: boolean,
 *          nodeEnv?: Record<string,string>, metasrvEnv?: Record<string,string>, nodeFlags?: string[],
 *          token?: string, durability?: string,
 *          redisCluster?: string[], redisSentinels?: {sentinels: string[], name: string},
 *          allowedStorage?: string[], balance?: boolean}} options
 * `token`: the metasrv's adminToken and every node's apiToken. `durability`: every node's
 * `wal.durability` (default: the nodes' own default, `everysec`, which needs Redis with AOF).
 * `nodeFlags`: Node.js flags for every storage node process (`--cpu-prof`, which NODE_OPTIONS refuses).
 * `redisCluster`: seed URLs of a Redis Cluster every process uses instead of `redisUrl`;
 * `redisSentinels`: the Sentinels (and the name) of the primary every process uses instead.
 * `allowedStorage`: `backup.allowedStorage` of every process (default: `local://.data/backups`).
 * `onRefusal(message)`: without it, a node that refuses the cluster Redis names (exit 78) or a metasrv
 * that refuses to bootstrap fails the start at once; with it the start waits, saying so once per
 * refusal, for an operator to recover the cluster (`regionctl cluster recover`), and starts the
 * refused nodes again once Redis names a cluster they did not refuse.
 */
async function startCluster(options) {
  const nodes = options.nodes ?? 3;
  mkdirSync(options.dir, { recursive: true });
  const common = {
    REGIONSTORE_REDIS_URL: options.redisUrl,
    ...(options.redisCluster ? { REGIONSTORE_REDIS__CLUSTER: JSON.stringify(options.redisCluster) } : {}),
    ...(options.redisSentinels
      ? {
          REGIONSTORE_REDIS__SENTINELS: JSON.stringify(options.redisSentinels.sentinels),
          REGIONSTORE_REDIS__SENTINEL_NAME: options.redisSentinels.name,
        }
      : {}),
    REGIONSTORE_KEY_PREFIX: options.prefix,
    // The nodes keep snapshots there; the metasrv knows it as a default backup target.
    REGIONSTORE_SNAPSHOT_STORAGE: `local://${join(options.dir, 'objects')}`,
    // An explicit option wins, then the environment (REGIONSTORE_LOG_LEVEL=debug npm start)
    REGIONSTORE_LOG_LEVEL: options.logLevel ?? process.env.REGIONSTORE_LOG_LEVEL ?? 'info',
    ...(options.allowedStorage
      ? { REGIONSTORE_BACKUP__ALLOWED_STORAGE: JSON.stringify(options.allowedStorage) }
      : {}),
  };
  const metasrvPort = options.metasrvPort ?? 0;
  const procs = new Map();
  /** Children whose exit was asked for (stop, kill, restart): those are not reported as crashes. */
  const expected = new WeakSet();
  let onUnexpectedExit;
  let starting = true;
  let exited; // the first process that exited during start-up
  const refused = new Map(); // node name → the cluster id Redis named when it refused (null: none yet)
  const track = (name, child) => {
    child.once('exit', (code, signal) => {
      if (expected.has(child)) return;
      if (starting) {
        if (code === EXIT_CLUSTER_REFUSED && options.onRefusal && name.startsWith('node-'))
          refused.set(name, undefined);
        else exited ??= { name, code, signal };
        return;
      }
      if (!onUnexpectedExit) return;
      const log = join(options.dir, `${name}.log`);
      onUnexpectedExit({ name, code, signal, log, lines: lastLines(log, 15) });
    });
  };
  const startMetasrv = (name, port) => {
    const child = spawnApp(
      METASRV,
      {
        ...common,
        ...(options.metasrvEnv ?? {}),
        REGIONSTORE_INSTANCE_ID: name,
        REGIONSTORE_HTTP__PORT: String(port),
        REGIONSTORE_BOOTSTRAP_NODES: String(nodes),
        REGIONSTORE_INITIAL_REGIONS: String(options.initialRegions ?? 8),
        ...(options.balance === false ? { REGIONSTORE_BALANCE__ENABLED: 'false' } : {}),
        ...(options.token ? { REGIONSTORE_ADMIN_TOKEN: options.token } : {}),
      },
      join(options.dir, `${name}.log`),
      options.inheritOutput,
    );
    procs.set(name, child);
    track(name, child);
    return child;
  };
  const startNode = (i, port = options.nodePorts?.[i - 1] ?? 0) => {
    const id = `node-${i}`;
    const child = spawnApp(
      NODE,
      {
        ...common,
        ...(options.nodeEnv ?? {}),
        ...(options.token ? { REGIONSTORE_API_TOKEN: options.token } : {}),
        ...(options.durability ? { REGIONSTORE_WAL__DURABILITY: options.durability } : {}),
        REGIONSTORE_NODE_ID: id,
        REGIONSTORE_DATA_DIR: join(options.dir, id),
        REGIONSTORE_HTTP__PORT: String(port),
      },
      join(options.dir, `${id}.log`),
      options.inheritOutput,
      options.nodeFlags,
    );
    procs.set(id, child);
    track(id, child);
    return child;
  };
  if (!metasrvPort)
    throw new Error('startCluster needs a fixed metasrvPort (clients find the cluster through it)');
  startMetasrv('metasrv-1', metasrvPort);
  for (let i = 1; i <= nodes; i++) startNode(i);
  const metasrvUrl = `http://127.0.0.1:${metasrvPort}`;
  const routes = async () => (await (await fetch(`${metasrvUrl}/v1/routes`)).json()).routes;
  const identity = async () => {
    const headers = options.token ? { authorization: `Bearer ${options.token}` } : {};
    return (await fetch(`${metasrvUrl}/admin/cluster`, { headers })).json();
  };

  const failedStart = ({ name, code, signal }) => {
    const how = signal ? `signal ${signal}` : `code ${code}`;
    const log = join(options.dir, `${name}.log`);
    const hint =
      code === EXIT_CLUSTER_REFUSED
        ? '\nIt refused the cluster Redis names (see README, "When Redis loses its data").'
        : '';
    return new Error(
      `${name} exited during start-up (${how}); the others were stopped. Last lines of ${log}:\n` +
        lastLines(log, 15) +
        hint,
    );
  };
  const untilBootstrapped = async () => {
    const timeoutMs = 60_000;
    let deadline = Date.now() + timeoutMs;
    let said = '';
    for (;;) {
      if (exited) throw failedStart(exited);
      const status = await identity().catch(() => undefined);
      const problem = status?.problem?.message;
      if (problem && !options.onRefusal)
        throw new Error(`the metasrv refuses to start the cluster: ${problem}`);
      for (const [name, id] of refused) {
        if (id === undefined) refused.set(name, status?.clusterId ?? null);
        else if (status?.clusterId && status.clusterId !== id && !problem) {
          refused.delete(name);
          startNode(Number(name.slice('node-'.length)));
        }
      }
      if (problem || refused.size > 0) {
        const message = refusalMessage(metasrvUrl, [...refused.keys()], problem);
        if (message !== said) options.onRefusal(message);
        said = message;
        deadline = Date.now() + timeoutMs; // an operator may take a while
      } else {
        const r = await routes().catch(() => []);
        // At least: splits since the bootstrap add regions, merges never go below it
        if (r.length >= (options.initialRegions ?? 8) && r.every((x) => x.address)) return;
        if (Date.now() > deadline) {
          // What each process said last: a start that hangs is otherwise a mystery once its dir is gone.
          const said = [...procs.keys()]
            .map((name) => `--- ${name}:\n${lastLines(join(options.dir, `${name}.log`), 10)}`)
            .join('\n');
          throw new Error(
            `timed out waiting for the cluster to bootstrap (${r.length} routes, ${r.filter((x) => x.address).length} with a leader's address)\n${said}`,
          );
        }
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  };

  const stopAll = (signal) =>
    Promise.all(
      [...procs.values()].map(
        (child) =>
          new Promise((resolveExit) => {
            expected.add(child);
            if (child.exitCode !== null || child.signalCode !== null) return resolveExit();
            const force = setTimeout(() => child.kill('SIGKILL'), 15_000);
            child.once('exit', () => {
              clearTimeout(force);
              resolveExit();
            });
            child.kill('SIGCONT'); // a stopped process would hold a SIGTERM until continued
            child.kill(signal);
          }),
      ),
    );

  // A process that exits while the cluster starts (a bad setting, a port in use) fails the start at
  // once, with its last log lines, and takes the others down: no orphan keeps a port. A refusal of
  // the cluster's identity waits for an operator instead when the caller says how to tell one.
  try {
    await untilBootstrapped();
  } catch (err) {
    await stopAll('SIGTERM');
    throw err;
  } finally {
    starting = false;
  }

  return {
    metasrvUrl,
    dir: options.dir,
    prefix: options.prefix,
    routes,
    /** The metasrv's `GET /admin/cluster`: `{clusterId, createdAtMs, problem}`. */
    identity,
    processes: procs,
    startNode,
    startMetasrv,
    waitFor,
    /** Sends a signal to one process (`node-2`, `metasrv-1`) and waits for it to exit. */
    async kill(name, signal = 'SIGKILL') {
      const child = procs.get(name);
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      expected.add(child);
      await new Promise((resolveExit) => {
        child.once('exit', resolveExit);
        child.kill(signal);
      });
    },
    /**
     * Hears of every process that exits without being asked to (a crash, a kill from outside):
     * `{name, code, signal, log, lines}`, `lines` being the end of its log.
     */
    onUnexpectedExit(listener) {
      onUnexpectedExit = listener;
    },
    /** Sends SIGSTOP or SIGCONT to one process (`node-2`, `metasrv-1`) without waiting. */
    signal(name, signal) {
      procs.get(name)?.kill(signal);
    },
    /**
     * Stops every process (SIGTERM: Ctrl-C; SIGKILL: a power cut) and starts the metasrv and the nodes
     * again on the same data, as `npm start` after Ctrl-C does.
     */
    async restart(signal = 'SIGTERM') {
      await stopAll(signal);
      startMetasrv('metasrv-1', metasrvPort);
      for (let i = 1; i <= nodes; i++) startNode(i);
    },
    async stop() {
      await stopAll('SIGTERM');
    },
  };
}

/** What an operator is told while nodes refuse the cluster's identity or the metasrv refuses to bootstrap. */
function refusalMessage(metasrvUrl, nodes, problem) {
  const who = [
    ...(nodes.length > 0
      ? [`${nodes.join(', ')} refused to start (their data belongs to a cluster Redis does not name)`]
      : []),
    ...(problem ? [`the metasrv refuses to bootstrap: ${problem}`] : []),
  ].join('; ');
  return (
    `${who}.\nIf Redis lost its data, rebuild the cluster's metadata from the object store: ` +
    `npm run regionctl -- --metasrv ${metasrvUrl} cluster recover (see README, "When Redis loses its data"). ` +
    'The refused nodes start again once Redis names the cluster.'
  );
}

/**
 * Deletes every Redis key of a cluster started with `prefix` (`{prefix}…` cluster-wide keys and queues,
 * `prefix:wal:…` streams); `redis` is an ioredis connection to a single server.
 */
async function dropKeys(redis, prefix) {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `*${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
}

/**
 * Runs `fn(cluster)` on a throwaway cluster, as the checks in tools/ need one: a temp directory and a
 * Redis key prefix of its own (`REDIS_URL`, else the local Redis), unsafe WAL durability, warn logs;
 * `options` override. Afterwards the cluster is stopped and its keys and files are gone, whatever
 * `fn` did.
 */
async function withScratchCluster(label, options, fn) {
  const dir = mkdtempSync(join(tmpdir(), `regionstore-${label}-`));
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `rs-${label}-${process.pid}`;
  let cluster;
  try {
    cluster = await startCluster({
      dir,
      redisUrl,
      prefix,
      metasrvPort: await freePort(),
      logLevel: 'warn',
      durability: 'unsafe',
      ...options,
    });
    return await fn(cluster);
  } finally {
    await cluster?.stop();
    const { Redis } = require('ioredis');
    const redis = new Redis(redisUrl);
    await dropKeys(redis, prefix);
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  }
}

module.exports = {
  processAlive,
  EXIT_CLUSTER_REFUSED,
  refusalMessage,
  startCluster,
  withScratchCluster,
  waitFor,
  freePort,
  dropKeys,
  repoRoot,
};

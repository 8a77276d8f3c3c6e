// One run of the chaos harness: a fresh cluster on a Redis of its own (AOF, appendfsync always),
// writers and readers for `durationMs` while the nemesis injects faults, then every fault healed,
// a final read of every key, and the checker's verdict. In launcher mode the cluster runs as
// `npm start` runs it instead: the launcher beside a Redis without AOF (Debian's default), so it
// runs a Redis of its own, and the nemesis restarts the launcher as a whole.
'use strict';
const { mkdirSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { PrivateRedisServer } = require('@regionstore/testing');
const { freePort, startCluster } = require('../cluster.cjs');
const { check } = require('./checker.cjs');
const { faultNames, heal, runNemesis } = require('./nemesis.cjs');
const { LauncherCluster } = require('./launcher.cjs');
const { Workload } = require('./workload.cjs');

/** What the checker reports; a run is ok when every one is empty. */
const ANOMALIES = ['lost', 'stale', 'phantom', 'future', 'inversion', 'unreadable'];

const DEFAULTS = {
  durationMs: 60_000,
  nemesis: ['all'],
  keys: 200,
  writers: 8,
  readers: 4,
  scanners: 1,
  nodes: 3,
  regions: 8,
  quietMs: 2000,
  keepDir: false,
  launcher: false,
  log: () => undefined,
};

/**
 * A short MVCC history (`gcLifeTimeMs`): the safepoint moves every second at most and nodes check
 * their regions as often, so GC runs all through the run, beside the writes and reads it must not harm.
 */
function gcEnv(gcLifeTimeMs) {
  if (gcLifeTimeMs === undefined) return {};
  const interval = String(Math.min(1000, Math.max(100, gcLifeTimeMs)));
  return {
    metasrvEnv: {
      REGIONSTORE_GC__LIFE_TIME_MS: String(gcLifeTimeMs),
      REGIONSTORE_GC__RUN_INTERVAL_MS: interval,
    },
    nodeEnv: {
      REGIONSTORE_WORKER_GROUP__CHECK_REGION_INTERVAL_MS: interval,
      REGIONSTORE_WORKER_GROUP__MAX_INITIAL_CHECK_DELAY_MS: interval,
    },
  };
}

/** The processes' cluster (tools/cluster.cjs) on a Redis of the run's own; `faults` get `ctx`. */
async function processCluster(options) {
  const redis = await PrivateRedisServer.start(join(options.dir, 'redis'));
  const metasrvPort = await freePort();
  const ctx = { redis, metasrvPort };
  try {
    ctx.cluster = await startCluster({
      dir: join(options.dir, 'cluster'),
      redisUrl: redis.url,
      prefix: 'chaos',
      nodes: options.nodes,
      initialRegions: options.regions,
      metasrvPort,
      logLevel: 'info',
      durability: 'fsync', // its Redis runs AOF with appendfsync always
      ...gcEnv(options.gcLifeTimeMs),
    });
  } catch (err) {
    await redis.kill('SIGTERM');
    throw err;
  }
  return {
    ctx,
    metasrvUrl: ctx.cluster.metasrvUrl,
    heal: () => heal(ctx.cluster, metasrvPort),
    async stop() {
      await ctx.cluster.stop();
      await redis.kill('SIGTERM');
    },
  };
}

/** The launcher's cluster (tools/chaos/launcher.cjs) beside a system Redis without AOF. */
async function launcherCluster(options) {
  const system = await PrivateRedisServer.start(join(options.dir, 'system-redis'), ['--appendonly', 'no']);
  const launcher = new LauncherCluster({
    dir: options.dir,
    redisUrl: system.url,
    prefix: 'chaos',
    metasrvPort: await freePort(),
  });
  const stop = async () => {
    await launcher.stop('SIGINT');
    // The launcher stops its Redis on SIGINT; one that outlived a kill -9 and a failed start goes too.
    try {
      process.kill(Number(readFileSync(join(options.dir, 'redis', 'redis.pid'), 'utf8')), 'SIGTERM');
    } catch {
      // no pid file, or that Redis is gone already
    }
    await system.kill('SIGTERM');
  };
  try {
    await launcher.start();
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    ctx: { launcher },
    metasrvUrl: launcher.metasrvUrl,
    heal: async () => {
      if (!launcher.running) await launcher.start();
    },
    stop,
  };
}

/**
 * @param {{dir: string} & Partial<typeof DEFAULTS>} input
 * @returns the checker's verdict with the counts, the faults injected and their failover times
 */
async function runChaos(input) {
  const options = { ...DEFAULTS, ...input };
  const names = faultNames(options.nemesis, { launcher: options.launcher });
  mkdirSync(options.dir, { recursive: true });
  let cluster;
  try {
    cluster = await (options.launcher ? launcherCluster : processCluster)(options);
    const workload = new Workload({
      metasrv: cluster.metasrvUrl,
      keys: options.keys,
      writers: options.writers,
      readers: options.readers,
      scanners: options.scanners,
    });
    const started = Date.now();
    workload.start();
    const faults = await runNemesis(cluster.ctx, names, {
      quietMs: options.quietMs,
      until: () => Date.now() - started >= options.durationMs,
      log: options.log,
    });
    await cluster.heal();
    await workload.stop();
    await workload.finalReads();
    const verdict = check(workload.history);
    const failovers = faults.filter((f) => f.failoverMs !== undefined).map((f) => f.failoverMs);
    const anomalies = Object.fromEntries(ANOMALIES.map((name) => [name, verdict[name].length]));
    const result = {
      ok: Object.values(anomalies).every((n) => n === 0),
      durationMs: Date.now() - started,
      counts: verdict.counts,
      ...anomalies,
      faults,
      failoverMs: failovers,
      examples: Object.fromEntries(ANOMALIES.map((name) => [name, verdict[name].slice(0, 3)])),
    };
    writeFileSync(join(options.dir, 'history.json'), JSON.stringify(workload.history));
    writeFileSync(join(options.dir, 'result.json'), JSON.stringify(result, null, 2));
    return result;
  } finally {
    await cluster?.stop();
    if (!options.keepDir) rmSync(options.dir, { recursive: true, force: true });
  }
}

module.exports = { runChaos, ANOMALIES, DEFAULTS };

// One run of the chaos harness: a fresh cluster on a Redis of its own (AOF, appendfsync always),
// writers and readers for `durationMs` while the nemesis injects faults, then every fault healed,
// a final read of every key, and the checker's verdict.
'use strict';
const { mkdirSync, rmSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { PrivateRedisServer } = require('@regionstore/testing');
const { freePort, startCluster } = require('../cluster.cjs');
const { check } = require('./checker.cjs');
const { faultNames, heal, runNemesis } = require('./nemesis.cjs');
const { Workload } = require('./workload.cjs');

/** What the checker reports; a run is ok when every one is empty. */
const ANOMALIES = ['lost', 'stale', 'phantom', 'future', 'inversion', 'unreadable'];

const DEFAULTS = {
  durationMs: 60_000,
  nemesis: ['all'],
  keys: 200,
  writers: 8,
  readers: 4,
  nodes: 3,
  regions: 8,
  quietMs: 2000,
  keepDir: false,
  log: () => undefined,
};

/**
 * @param {{dir: string} & Partial<typeof DEFAULTS>} input
 * @returns the checker's verdict with the counts, the faults injected and their failover times
 */
async function runChaos(input) {
  const options = { ...DEFAULTS, ...input };
  const names = faultNames(options.nemesis);
  mkdirSync(options.dir, { recursive: true });
  const redis = await PrivateRedisServer.start(join(options.dir, 'redis'));
  const metasrvPort = await freePort();
  let cluster;
  try {
    cluster = await startCluster({
      dir: join(options.dir, 'cluster'),
      redisUrl: redis.url,
      prefix: 'chaos',
      nodes: options.nodes,
      initialRegions: options.regions,
      metasrvPort,
      logLevel: 'info',
      durability: 'fsync', // its Redis runs AOF with appendfsync always
    });
    const workload = new Workload({
      metasrv: cluster.metasrvUrl,
      keys: options.keys,
      writers: options.writers,
      readers: options.readers,
    });
    const started = Date.now();
    workload.start();
    const faults = await runNemesis({ cluster, redis, metasrvPort }, names, {
      quietMs: options.quietMs,
      until: () => Date.now() - started >= options.durationMs,
      log: options.log,
    });
    await heal(cluster, metasrvPort);
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
    await redis.kill('SIGTERM');
    if (!options.keepDir) rmSync(options.dir, { recursive: true, force: true });
  }
}

module.exports = { runChaos, ANOMALIES, DEFAULTS };

// `npm start [-- --dir DIR --port PORT --nodes N --any-node-ports --redis-dir DIR --no-build]`: a local
// cluster — Redis (a redis-server of its own with AOF if none with AOF answers at REDIS_URL; its data
// under .data/redis or --redis-dir, kept across restarts), the metasrv on :7700 and N storage nodes
// (3, or as many as the last start ended with) on the next ports (or any free ones), each a separate
// process, with data and JSON logs under .data/cluster. The
// console shows their log lines at REGIONSTORE_CONSOLE_LEVEL (default info; `silent` for none)
// through pino-pretty. Ctrl-C stops everything gracefully (SIGTERM to each process); a process that
// exits by itself is started again. `npm run add-node` (SIGUSR2 to this process) starts one more node.
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { CONSOLE_LEVELS, followLogs } from './console-logs.mjs';
import { describeExternal, ensureRedis, shortPath, stopStartedRedis } from './ensure-redis.mjs';
import { readLauncherState, writeLauncherState } from './launcher-state.mjs';

const require = createRequire(import.meta.url);
const { EXIT_CLUSTER_REFUSED, refusalMessage, startCluster, repoRoot } = require('./cluster.cjs');

// Bull Board's file server `require`s an ES module, which Node does by default from 20.19.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  console.error(`RegionStore needs Node.js 20.19 or newer; this is ${process.versions.node}.`);
  process.exit(1);
}

const { values: args } = parseArgs({
  options: {
    dir: { type: 'string', default: resolve(repoRoot, '.data', 'cluster') },
    port: { type: 'string', default: process.env.METASRV_PORT ?? '7700' },
    // Storage nodes to start; default: as many as the last start in this directory ended with, else 3.
    nodes: { type: 'string' },
    // Nodes on ports the system picks (they tell the metasrv): for runs beside other clusters.
    'any-node-ports': { type: 'boolean', default: false },
    // Where the redis-server of its own keeps its data (default REGIONSTORE_REDIS_DIR, else .data/redis).
    'redis-dir': { type: 'string' },
    'no-build': { type: 'boolean', default: false },
  },
});
const dir = resolve(args.dir);
const metasrvPort = Number(args.port);
let nodeCount = Number(args.nodes ?? readLauncherState(dir)?.nodes ?? 3);
const consoleLevel = process.env.REGIONSTORE_CONSOLE_LEVEL ?? 'info';
if (!CONSOLE_LEVELS.includes(consoleLevel)) {
  console.error(
    `REGIONSTORE_CONSOLE_LEVEL must be one of ${CONSOLE_LEVELS.join(', ')}, not '${consoleLevel}'`,
  );
  process.exit(2);
}
if (!Number.isInteger(nodeCount) || nodeCount < 1 || nodeCount > 64) {
  console.error(`--nodes must be a whole number from 1 to 64, not '${args.nodes}'`);
  process.exit(2);
}
if (!Number.isInteger(metasrvPort) || metasrvPort < 1 || metasrvPort + nodeCount > 65535) {
  console.error(
    `--port must be a port number with ${nodeCount} free after it (the nodes take them), not '${args.port}'`,
  );
  process.exit(2);
}
/** Node i's port: the i-th after the metasrv's, or one the system picks. */
const nodePort = (i) => (args['any-node-ports'] ? 0 : metasrvPort + i);

if (!args['no-build']) {
  const build = spawnSync('npx', ['nx', 'run-many', '-t', 'build', '--output-style=static'], {
    stdio: 'inherit',
    cwd: repoRoot,
  });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

// Stops whatever is up: the cluster once it started (its processes also stop by themselves if this
// one dies), then the redis-server of its own if it used that one (its data stays for the next start;
// one that outlives a kill -9 of this process is used again by the next start). On SIGINT (Ctrl-C),
// SIGTERM (systemd, a container runtime), or when the parent (npm) is gone: npm does not pass SIGTERM
// on to its script.
let cluster;
let redis; // the promise of ensureRedis's answer, once asked
let stopFollowing = () => undefined;
let stopping = false;
const stopRedis = async () => {
  const used = await redis?.catch(() => undefined);
  if (!used?.own) return;
  await stopStartedRedis({ dir: used.dir });
  console.log(`stopped the redis-server on ${used.url}; its data stays in ${shortPath(used.dataPath)}`);
};
const stop = async (why) => {
  if (stopping) return;
  stopping = true;
  console.log(`\nstopping (${why}) …`);
  // No pid: `npm run add-node` must not signal whatever process gets this one's pid next
  if (cluster) writeLauncherState(dir, { pid: null, nodes: nodeCount, metasrvUrl: cluster.metasrvUrl });
  await cluster?.stop();
  stopFollowing();
  await stopRedis();
  process.exit(0);
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) void stop('the parent process exited');
}, 500).unref();

redis = ensureRedis((msg) => console.log(msg), { durable: true, dir: args['redis-dir'] });
const { url, started, own, dataPath } = await redis.catch((err) => {
  console.error(`\nRegionStore did not start: ${err.message}`);
  process.exit(err.exitCode ?? 1);
});
if (stopping) await new Promise(() => undefined); // Ctrl-C meanwhile: stop() stops that Redis and exits
const where = own
  ? `${started ? 'started by npm start' : 'still running from an earlier start'}; ` +
    `data in ${shortPath(dataPath)}, kept across restarts`
  : await describeExternal(url);
console.log(
  `Redis: ${url} (${where})\nstarting metasrv on :${metasrvPort} and ${nodeCount} storage nodes (logs in ${dir}/*.log) …`,
);
stopFollowing = followLogs(dir, {
  level: consoleLevel,
  colorize: process.stdout.isTTY === true,
});
try {
  cluster = await startCluster({
    dir,
    redisUrl: url,
    prefix: process.env.REGIONSTORE_KEY_PREFIX ?? 'regionstore-local',
    nodes: nodeCount,
    metasrvPort,
    nodePorts: Array.from({ length: nodeCount }, (_, i) => nodePort(i + 1)),
    // Nodes that refuse the cluster Redis names wait for `regionctl cluster recover`, not a crash loop.
    onRefusal: (message) => console.error(`\n${message}\nWaiting (Ctrl-C stops) …`),
  });
} catch (err) {
  // startCluster has stopped every process it started; say why here, not only in a log file.
  console.error(`\nRegionStore did not start: ${err.message}`);
  stopFollowing();
  await stopRedis();
  process.exit(1);
}
// A process that exits on its own is reported with the end of its log and started again, unless it
// keeps exiting (then everything stops rather than loop).
const crashes = new Map();
/** Starts a node that refused the cluster again once Redis names another one (after a recovery). */
const afterRecovery = async (name) => {
  const refusedId = (await cluster.identity().catch(() => undefined))?.clusterId ?? null;
  console.error(`\n${refusalMessage(cluster.metasrvUrl, [name])}`);
  while (!stopping) {
    await new Promise((r) => setTimeout(r, 1000));
    const status = await cluster.identity().catch(() => undefined);
    if (status?.clusterId && status.clusterId !== refusedId && !status.problem) {
      console.error(`Redis names cluster ${status.clusterId} again: starting ${name} …`);
      const i = Number(name.split('-')[1]);
      return cluster.startNode(i, nodePort(i));
    }
  }
};
cluster.onUnexpectedExit(({ name, code, signal, log, lines }) => {
  if (stopping) return;
  console.error(
    `\n${name} exited (${signal ? `signal ${signal}` : `code ${code}`}); the end of ${log}:\n${lines}`,
  );
  if (code === EXIT_CLUSTER_REFUSED && name.startsWith('node-')) return void afterRecovery(name);
  const now = Date.now();
  const recent = (crashes.get(name) ?? []).filter((at) => at > now - 60_000);
  crashes.set(name, [...recent, now]);
  if (recent.length >= 3) return void stop(`${name} exited 4 times within a minute`);
  console.error(`starting ${name} again …`);
  if (name.startsWith('metasrv')) cluster.startMetasrv(name, metasrvPort);
  else {
    const i = Number(name.split('-')[1]);
    cluster.startNode(i, nodePort(i));
  }
});
// `npm run add-node` asks for one more storage node; the next start starts as many as there are now.
const saveState = () =>
  writeLauncherState(dir, { pid: process.pid, nodes: nodeCount, metasrvUrl: cluster.metasrvUrl });
process.on('SIGUSR2', () => {
  if (stopping) return;
  if (nodePort(nodeCount + 1) > 65535) return void console.error('\nno port left for another node');
  nodeCount += 1;
  console.log(`\nadding node-${nodeCount} (data in ${shortPath(join(dir, `node-${nodeCount}`))}) …`);
  cluster.startNode(nodeCount, nodePort(nodeCount));
  saveState();
});
saveState();
const routes = await cluster.routes();
console.log(
  `\nRegionStore is up: ${routes.length} regions on ${new Set(routes.map((r) => r.leader)).size} nodes.`,
);
console.log(`  routes:      curl ${cluster.metasrvUrl}/v1/routes`);
console.log(`  status:      curl ${cluster.metasrvUrl}/admin/status`);
console.log(`  Bull Board:  ${cluster.metasrvUrl}/admin/queues`);
console.log(`  metrics:     curl ${cluster.metasrvUrl}/metrics`);
console.log(`  CLI:         npm run regionctl -- --metasrv ${cluster.metasrvUrl} put hello world`);
console.log(
  `               npm run regionctl -- cluster status | bench | backup create local://.data/backups/first`,
);
console.log('Ctrl-C stops the cluster.');

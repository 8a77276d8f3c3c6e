// Checks the metrics a live cluster exports, as an operator's Prometheus would see them: starts a
// metasrv and two storage nodes, drives writes, reads, a scan, a migration and a failover, scrapes
// every app's /metrics, and
//   1. runs `promtool check metrics` (Debian `prometheus`) on each scrape;
//   2. checks that every metric the Grafana dashboard (deploy/grafana/regionstore.json) queries is in
//      a scrape.
// `npm run check:metrics`; CI runs it. Exits 1 on any problem.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { withScratchCluster } = require('./cluster.cjs');
const { RegionStoreClient } = require('../packages/client/dist/index.js');
const DASHBOARD = join(repoRoot, 'deploy', 'grafana', 'regionstore.json');
/**
 * prom-client's default process metrics name two gauges `nodejs_active_*_total`, which promtool
 * rejects (a `_total` suffix is for counters). They are not ours to rename; they are left out of the
 * promtool input and nothing of ours may use them.
 */
const NOT_OURS = /^(# (HELP|TYPE) )?nodejs_active_(handles|requests|resources)_total\b/;

const problems = [];

/** Metric families in a scrape: name → type. */
function families(text) {
  const out = new Map();
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) out.set(match[1], match[2]);
  return out;
}

/** The series names a family exposes (a histogram's `_bucket`, `_sum`, `_count` too). */
function seriesNames(name, type) {
  return type === 'histogram' || type === 'summary'
    ? [name, `${name}_bucket`, `${name}_sum`, `${name}_count`]
    : [name];
}

/** Every metric name a dashboard query uses (identifiers followed by a selector, range or paren). */
function dashboardMetrics() {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
  const exprs = [];
  const walk = (value) => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object') {
      for (const [key, inner] of Object.entries(value)) {
        if (key === 'expr' && typeof inner === 'string') exprs.push(inner);
        else walk(inner);
      }
    }
  };
  walk(dashboard);
  const names = new Set();
  for (const expr of exprs) {
    for (const match of expr.matchAll(/\b((?:regionstore|nodejs|process)_[a-z0-9_]+)\b/g))
      names.add(match[1]);
  }
  return { exprs, names };
}

await withScratchCluster('metrics-check', { nodes: 2, initialRegions: 2 }, async (cluster) => {
  const client = new RegionStoreClient({ metasrv: cluster.metasrvUrl, retryTimeoutMs: 60_000 });
  const status = async () => (await fetch(`${cluster.metasrvUrl}/admin/status`)).json();
  // Traffic of every kind, and a failed command (a key no region of that node holds).
  for (let i = 0; i < 50; i++) await client.put(Buffer.from([i * 5, i]), Buffer.from(`v${i}`));
  await client.batchGet(Array.from({ length: 20 }, (_, i) => Buffer.from([i * 5, i])));
  await client.get(Buffer.from([0, 0]));
  await client.scan({ limit: 100 });
  const routes = await client.routes(true);
  const other = routes.find((r) => r.leader !== routes[0].leader) ?? routes[0];
  await fetch(`${other.address}/v1/get`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ regionId: routes[0].regionId.toString(), key: 'AA==' }),
  });
  // A migration, then a failover (kill -9 of a node), so their metrics have series.
  const moving = routes[0];
  const target = (await status()).nodes.find((n) => n.id !== moving.leader).id;
  const migrated = await fetch(`${cluster.metasrvUrl}/admin/migrate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ regionId: moving.regionId.toString(), to: target }),
  });
  if (!migrated.ok) throw new Error(`migrate: ${await migrated.text()}`);
  await cluster.waitFor(
    async () =>
      (await client.routes(true)).find((r) => r.regionId.toString() === moving.regionId.toString()).leader ===
      target,
    'the migration',
    60_000,
  );
  await cluster.kill(target, 'SIGKILL');
  await cluster.waitFor(
    async () => (await client.routes(true)).every((r) => r.leader !== target),
    'the failover',
    60_000,
  );
  await client.close();

  const scrapes = [['metasrv', await (await fetch(`${cluster.metasrvUrl}/metrics`)).text()]];
  for (const node of (await status()).nodes.filter((n) => n.state === 'alive')) {
    scrapes.push([node.id, await (await fetch(`${node.address}/metrics`)).text()]);
  }
  const exported = new Set();
  for (const [app, text] of scrapes) {
    for (const [name, type] of families(text)) seriesNames(name, type).forEach((s) => exported.add(s));
    const input = text
      .split('\n')
      .filter((line) => !NOT_OURS.test(line))
      .join('\n');
    try {
      execFileSync('promtool', ['check', 'metrics'], { input, stdio: ['pipe', 'pipe', 'pipe'] });
      console.log(`promtool: ${app} ok (${families(text).size} metric families)`);
    } catch (err) {
      if (err.code === 'ENOENT')
        throw new Error('promtool is not installed (Debian: apt-get install prometheus)', { cause: err });
      problems.push(`promtool on ${app}:\n${err.stdout}${err.stderr}`);
    }
  }
  // Our metrics that must have series after this traffic.
  for (const name of [
    'regionstore_metasrv_leader',
    'regionstore_metasrv_nodes',
    'regionstore_metasrv_region_leaders',
    'regionstore_metasrv_queue_jobs',
    'regionstore_supervisor_failovers_total',
    'regionstore_supervisor_migrations_total',
    'regionstore_storage_node_request_duration_seconds_count',
  ]) {
    const sampled = scrapes.some(([, text]) => new RegExp(`^${name}[{ ]`, 'm').test(text));
    if (!sampled) problems.push(`no series of ${name} after the traffic that should produce it`);
  }
  const { exprs, names } = dashboardMetrics();
  for (const name of names) {
    if (!exported.has(name)) problems.push(`dashboard queries ${name}, which no app exports`);
  }
  console.log(`dashboard: ${exprs.length} queries over ${names.size} metrics checked`);
});
if (problems.length > 0) {
  console.error(`\n${problems.length} problem(s):\n${problems.join('\n')}`);
  process.exit(1);
}
console.log('metrics: ok');

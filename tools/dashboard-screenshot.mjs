// `npm run screenshot:dashboard`: the operator section's pictures, taken from a real run. Starts a
// scratch cluster (3 nodes, 8 regions) and a Prometheus (Debian `prometheus`) scraping every process
// each second, writes and reads through the client, kills node-2 with -9, starts it again once its
// regions have moved, waits for the balancer to spread them back, then has headless Chromium (Debian
// `chromium`) photograph Prometheus's graph page with queries from deploy/grafana/regionstore.json.
// Writes docs/images/dashboard-*.png.
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const require = createRequire(import.meta.url);
const { withScratchCluster, freePort, repoRoot } = require('./cluster.cjs');
const { RegionStoreClient } = require('@regionstore/client');
const run = promisify(execFile);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const out = join(repoRoot, 'docs', 'images');
const dashboard = JSON.parse(readFileSync(join(repoRoot, 'deploy', 'grafana', 'regionstore.json'), 'utf8'));

/** The dashboard's queries by panel title, so the pictures show what an operator's Grafana shows. */
const query = (title, index = 0) => {
  const panel = dashboard.panels.find((p) => p.title === title);
  if (!panel?.targets?.[index]) throw new Error(`no query ${index} in panel '${title}' of the dashboard`);
  return panel.targets[index].expr;
};
const PICTURES = [
  {
    file: 'dashboard-cluster.png',
    graphs: [
      query('Region leaders per node'),
      query('Failure detector phi per node'),
      query('Migrations ended by status'),
    ],
  },
  {
    file: 'dashboard-data-path.png',
    graphs: [query('Requests/s by operation'), query('Request latency p99'), query('WAL append latency', 1)],
  },
];

const chromium = process.env.CHROMIUM ?? 'chromium';
for (const [tool, pkg] of [
  ['prometheus', 'prometheus'],
  [chromium, 'chromium'],
]) {
  await run(tool, ['--version']).catch((err) => {
    console.error(`${tool} is needed (Debian: apt-get install ${pkg}): ${err.message}`);
    process.exit(1);
  });
}
const nodePorts = [await freePort(), await freePort(), await freePort()];
const promPort = await freePort();
const promDir = mkdtempSync(join(tmpdir(), 'regionstore-dashboard-prometheus-'));
let prometheus;
try {
  await withScratchCluster(
    'dashboard',
    { nodes: 3, initialRegions: 8, nodePorts, logLevel: 'warn' },
    async (cluster) => {
      const metasrv = new URL(cluster.metasrvUrl).host;
      writeFileSync(
        join(promDir, 'prometheus.yml'),
        [
          'global: { scrape_interval: 1s, evaluation_interval: 1s }',
          'scrape_configs:',
          '  - job_name: regionstore',
          '    static_configs:',
          `      - targets: [${[metasrv, ...nodePorts.map((p) => `127.0.0.1:${p}`)].map((t) => `'${t}'`).join(', ')}]`,
          '',
        ].join('\n'),
      );
      prometheus = spawn(
        'prometheus',
        [
          `--config.file=${join(promDir, 'prometheus.yml')}`,
          `--storage.tsdb.path=${join(promDir, 'data')}`,
          `--web.listen-address=127.0.0.1:${promPort}`,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      prometheus.once('error', (err) => {
        console.error(`prometheus did not start (Debian: apt-get install prometheus): ${err.message}`);
        process.exit(1);
      });

      const client = new RegionStoreClient({ metasrv: cluster.metasrvUrl, retryTimeoutMs: 60_000 });
      let load = true;
      let ops = 0;
      const worker = async (w) => {
        for (let i = 0; load; i++) {
          const key = `user${(w * 7919 + i * 104729) % 5000}`;
          if (i % 4 === 0) await client.put(key, `value-${i}`);
          else await client.get(key);
          ops++;
        }
      };
      const workers = Array.from({ length: 16 }, (_, w) => worker(w));
      const step = (what) =>
        console.log(`${new Date().toISOString().slice(11, 19)} ${what} (${ops} operations so far)`);
      const leaders = async () => {
        const counts = new Map();
        for (const route of await cluster.routes())
          counts.set(route.leader, (counts.get(route.leader) ?? 0) + 1);
        return counts;
      };
      step('load running (3 reads to 1 write)');
      await sleep(60_000);
      await cluster.kill('node-2', 'SIGKILL');
      step('node-2 killed -9');
      await cluster.waitFor(async () => !(await leaders()).has('node-2'), 'node-2 regions to move', 60_000);
      step('node-2 regions led elsewhere');
      await sleep(20_000);
      cluster.startNode(2);
      step('node-2 started again');
      await cluster.waitFor(
        async () => ((await leaders()).get('node-2') ?? 0) >= 2,
        'the balancer to give node-2 regions back',
        120_000,
      );
      step(`balanced: ${JSON.stringify(Object.fromEntries(await leaders()))}`);
      await sleep(45_000);
      load = false;
      await Promise.all(workers);
      await client.close();

      mkdirSync(out, { recursive: true });
      for (const picture of PICTURES) {
        const params = picture.graphs.flatMap((expr, i) => [
          `g${i}.expr=${encodeURIComponent(expr)}`,
          `g${i}.tab=0`,
          `g${i}.range_input=3m`,
        ]);
        const url = `http://127.0.0.1:${promPort}/classic/graph?${params.join('&')}`;
        const file = join(out, picture.file);
        await run(
          chromium,
          [
            '--headless',
            '--no-sandbox',
            '--disable-gpu',
            '--disable-dev-shm-usage',
            '--hide-scrollbars',
            `--window-size=1400,${picture.graphs.length * 720 + 80}`,
            '--virtual-time-budget=10000',
            `--screenshot=${file}`,
            url,
          ],
          { timeout: 90_000 },
        );
        step(`wrote ${file}`);
      }
    },
  );
} finally {
  prometheus?.kill('SIGTERM');
  rmSync(promDir, { recursive: true, force: true });
}

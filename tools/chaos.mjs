// `npm run chaos [-- --runs 20 --nemesis all --duration 60 --launcher]`: Jepsen-style runs against a
// real local cluster (see tools/chaos/); `--launcher` runs it through `npm start`'s launcher instead. Builds first, prints one line per run, writes
// bench/results/<date>-chaos.json with the command, every run's counts, faults and failover times,
// and exits 1 if any run found a lost, stale, phantom or non-linearizable read.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '1' },
    nemesis: { type: 'string', default: 'all' },
    duration: { type: 'string', default: '60' },
    keys: { type: 'string', default: '200' },
    keep: { type: 'boolean', default: false },
    launcher: { type: 'boolean', default: false },
    out: { type: 'string' },
    'gc-life-time': { type: 'string' },
    'no-build': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(`npm run chaos -- [--runs N] [--nemesis all|kill,pause,move,split,restart-cluster,restart-metasrv,restart-redis]
                     [--duration SECONDS per run] [--keys N] [--keep (keep each run's data and logs)]
                     [--launcher (the cluster as npm start runs it, beside a Redis without AOF;
                                  nemesis: restart-launcher, by SIGINT, SIGTERM or kill -9)]
                     [--gc-life-time MS (MVCC history kept; GC then runs all through each run)]
                     [--out FILE (default bench/results/<date>-chaos.json)]`);
  process.exit(0);
}
const positive = (name) => {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n <= 0) {
    console.error(`--${name} must be a positive integer, not '${values[name]}'`);
    process.exit(2);
  }
  return n;
};
const runs = positive('runs');
const durationMs = positive('duration') * 1000;
const keys = positive('keys');
const gcLifeTimeMs = values['gc-life-time'] === undefined ? undefined : positive('gc-life-time');
if (gcLifeTimeMs !== undefined && values.launcher) {
  console.error('--gc-life-time applies to the process cluster, not to --launcher');
  process.exit(2);
}

if (!values['no-build']) {
  const build = spawnSync('npx', ['nx', 'run-many', '-t', 'build'], { stdio: 'inherit', cwd: repoRoot });
  if (build.status !== 0) process.exit(build.status ?? 1);
}
const { runChaos, ANOMALIES } = require('./chaos/run.cjs');
const { faultNames } = require('./chaos/nemesis.cjs');
const launcher = values.launcher;
const nemesis = faultNames(values.nemesis.split(','), { launcher });

const command = `npm run chaos -- ${process.argv.slice(2).join(' ')}`.trim();
const results = [];
for (let run = 1; run <= runs; run++) {
  const dir = join(tmpdir(), `regionstore-chaos-${process.pid}-${run}`);
  const result = await runChaos({
    dir,
    durationMs,
    keys,
    nemesis,
    launcher,
    ...(gcLifeTimeMs === undefined ? {} : { gcLifeTimeMs }),
    keepDir: values.keep,
    log: (line) => console.log(`  ${line}`),
  });
  results.push(result);
  const c = result.counts;
  console.log(
    `run ${run}/${runs}: ${result.ok ? 'ok' : 'VIOLATIONS'} — ${c.acknowledged} acked writes (${c.unknownWrites} unknown), ` +
      `${c.reads} reads (${c.failedReads} failed; ${c.failedScans ?? 0} scans failed); ${ANOMALIES.map((a) => `${a} ${result[a]}`).join(', ')}; ` +
      `faults ${result.faults.map((f) => f.fault).join(' ')}` +
      (values.keep ? `; data in ${dir}` : ''),
  );
  if (c.unknownWrites > 0) console.log(`  unknown writes by error: ${JSON.stringify(c.unknownBy)}`);
  if (!result.ok) console.log(JSON.stringify(result.examples, null, 2));
}

const failovers = results.flatMap((r) => r.failoverMs).sort((a, b) => a - b);
const totals = Object.fromEntries(ANOMALIES.map((a) => [a, results.reduce((sum, r) => sum + r[a], 0)]));
const summary = {
  command,
  date: new Date().toISOString(),
  runs,
  durationMsPerRun: durationMs,
  nemesis,
  launcher,
  operations: results.reduce((sum, r) => sum + r.counts.writes + r.counts.reads + r.counts.failedReads, 0),
  acknowledgedWrites: results.reduce((sum, r) => sum + r.counts.acknowledged, 0),
  faultsInjected: results.reduce((sum, r) => sum + r.faults.length, 0),
  ...totals,
  failoverMs: {
    count: failovers.length,
    median: failovers[Math.floor(failovers.length / 2)] ?? null,
    max: failovers.at(-1) ?? null,
  },
  results: results.map(({ examples, ...rest }) => (rest.ok ? rest : { ...rest, examples })),
};
const out = values.out
  ? resolve(values.out)
  : join(repoRoot, 'bench', 'results', `${summary.date.slice(0, 10)}-chaos.json`);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(summary, null, 2)}\n`);
console.log(
  `\nchaos: ${runs} runs, ${summary.operations} operations, ${summary.faultsInjected} faults; ` +
    `${ANOMALIES.map((a) => `${a} ${totals[a]}`).join(', ')}; failover median ${summary.failoverMs.median} ms → ${out}`,
);
process.exit(results.every((r) => r.ok) ? 0 : 1);

// Shared by every benchmark: machine facts, ratio rows, the printed table and the results file.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const resultsDir = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'results');

export function machine() {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryBytes: os.totalmem(),
    node: process.version,
    platform: `${os.platform()}-${os.arch()}`,
  };
}

/** Seconds taken by `fn`. */
export async function timed(fn) {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Runs `fn` `runs` times and keeps the median, to damp a shared machine's noise. */
export async function median(runs, fn) {
  const values = [];
  for (let i = 0; i < runs; i++) values.push(await fn());
  values.sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)];
}

/** One figure: ours against the baseline measured in the same run (higher is better for both). */
export function figure(name, unit, value, baselineName, baseline) {
  return { name, unit, value, baseline: { name: baselineName, value: baseline }, ratio: value / baseline };
}

export function printTable(title, figures) {
  const rows = figures.map((f) => [
    f.name,
    `${fmt(f.value)} ${f.unit}`,
    `${fmt(f.baseline.value)} ${f.unit} (${f.baseline.name})`,
    f.ratio.toFixed(2),
  ]);
  const header = ['benchmark', 'value', 'baseline', 'ratio'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  console.log(`\n${title}\n`);
  console.log(line(header));
  console.log(`| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`);
  for (const row of rows) console.log(line(row));
}

function fmt(value) {
  return value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(2);
}

/** Writes bench/results/<date>-<name>.json and returns its path. */
export function writeResults(name, command, parameters, figures) {
  mkdirSync(resultsDir, { recursive: true });
  const date = new Date().toISOString().slice(0, 10);
  const file = join(resultsDir, `${date}-${name}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ name, command, date: new Date().toISOString(), machine: machine(), parameters, figures }, null, 2)}\n`,
  );
  return file;
}

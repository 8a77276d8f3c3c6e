// `npm run bench [-- <name> ...]`: builds the packages, then runs each benchmark in bench/<name>/run.mjs
// in its own process. Each benchmark prints its table and writes bench/results/<date>-<name>.json.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const benchDir = join(repoRoot, 'bench');
const available = existsSync(benchDir)
  ? readdirSync(benchDir).filter((name) => existsSync(join(benchDir, name, 'run.mjs')))
  : [];
const wanted = process.argv.slice(2);

const unknown = wanted.filter((name) => !available.includes(name));
if (unknown.length > 0) {
  console.error(
    `unknown benchmark(s): ${unknown.join(', ')}; available: ${available.join(', ') || '(none)'}`,
  );
  process.exit(2);
}
if (available.length === 0) {
  console.error('no benchmarks exist yet (bench/<name>/run.mjs)');
  process.exit(1);
}

const build = spawnSync('npx', ['nx', 'run-many', '-t', 'build'], { stdio: 'inherit', cwd: repoRoot });
if (build.status !== 0) process.exit(build.status ?? 1);

let failed = 0;
for (const name of wanted.length > 0 ? wanted : available) {
  console.log(`\n== bench ${name}`);
  const run = spawnSync(process.execPath, ['--expose-gc', join(benchDir, name, 'run.mjs')], {
    stdio: 'inherit',
    cwd: repoRoot,
  });
  if (run.status !== 0) failed++;
}
process.exit(failed > 0 ? 1 : 0);

// Checks that the client installs and works on its own, as a user's project would get it: packs
// @regionstore/core, /protocol and /client (`npm pack`), installs the three tarballs into an empty
// directory from the npm registry, checks the dependency tree carries no server runtime, then runs a
// put and a get from CommonJS and from ESM against a local cluster. `npm run check:client`; CI runs
// it after the build. Exits 1 on any problem.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { withScratchCluster } = createRequire(import.meta.url)('./cluster.cjs');
/** What a client must never pull in: the servers' runtime. */
const SERVER_ONLY = ['ioredis', 'pino', 'prom-client', 'tsyringe', 'bullmq', 'fastify', 'rocksdb-native'];
const work = mkdtempSync(join(tmpdir(), 'regionstore-client-package-'));
const run = (cmd, args, cwd) =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const problems = [];

const packs = join(work, 'packs');
mkdirSync(packs);
const workspaces = ['packages/core', 'packages/protocol', 'packages/client'].flatMap((w) => [
  '--workspace',
  w,
]);
run('npm', ['pack', ...workspaces, '--pack-destination', packs], repoRoot);
const tarballs = readdirSync(packs).map((name) => join(packs, name));
for (const tarball of tarballs) {
  const files = run('tar', ['tzf', tarball]).split('\n');
  const bad = files.filter((f) => f.endsWith('.tsbuildinfo'));
  if (bad.length > 0) problems.push(`${tarball} ships build info: ${bad.join(', ')}`);
  const maps = files.filter((f) => f.endsWith('.js.map'));
  if (maps.length > 0 && !files.some((f) => f.startsWith('package/src/'))) {
    problems.push(`${tarball} ships source maps without their sources`);
  }
}

const app = join(work, 'app');
mkdirSync(app);
writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'client-check', private: true }));
run('npm', ['install', '--no-audit', '--no-fund', ...tarballs], app);
const installed = readdirSync(join(app, 'node_modules')).filter((n) => !n.startsWith('.'));
const scoped = installed
  .filter((n) => n.startsWith('@'))
  .flatMap((scope) => readdirSync(join(app, 'node_modules', scope)).map((n) => `${scope}/${n}`));
const packages = [...installed.filter((n) => !n.startsWith('@')), ...scoped];
for (const name of SERVER_ONLY) {
  if (packages.includes(name)) problems.push(`installing the client pulled in ${name}`);
}
const size = run('du', ['-sk', join(app, 'node_modules')]).split('\t')[0];
console.log(`client install: ${packages.length} packages, ${Math.round(Number(size) / 1024)} MB`);

try {
  await withScratchCluster('client-check', { nodes: 1, initialRegions: 2 }, async (cluster) => {
    const script = (load) => `${load}
const client = new RegionStoreClient({ metasrv: ${JSON.stringify(cluster.metasrvUrl)} });
await client.put('hello', 'from a user project');
const value = await client.get('hello');
if (value?.toString() !== 'from a user project') throw new Error('read back ' + value);
await client.close();
console.log('ok');`;
    writeFileSync(
      join(app, 'check.cjs'),
      `const { RegionStoreClient } = require('@regionstore/client');\n(async () => {${script('')}})().catch((e) => { console.error(e); process.exit(1); });`,
    );
    writeFileSync(join(app, 'check.mjs'), script("import { RegionStoreClient } from '@regionstore/client';"));
    for (const file of ['check.cjs', 'check.mjs']) {
      try {
        const out = run(process.execPath, [file], app).trim();
        console.log(`${file}: ${out}`);
        if (out !== 'ok') problems.push(`${file} printed ${out}`);
      } catch (err) {
        problems.push(`${file} failed: ${err.stderr || err.message}`);
      }
    }
  });
} finally {
  rmSync(work, { recursive: true, force: true });
}
if (problems.length > 0) {
  console.error(`\n${problems.length} problem(s):\n${problems.join('\n')}`);
  process.exit(1);
}
console.log('client package: ok');

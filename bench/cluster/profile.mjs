// CPU profiles of the storage nodes under the cluster benchmark's write loads (issue #30): a cluster
// as `npm start` runs it (private redis-server with AOF everysec, WAL durability everysec), every
// storage node under `--cpu-prof`, driven through RegionStoreClient with 1-op and then 128-op writes
// (64 in flight, 100-byte values) in two fresh clusters. Each node writes its profile when it stops;
// this prints where the nodes' time went (self time by function, and by package), and keeps the
// profiles (open them in Chrome DevTools' Performance panel or speedscope.app as flame graphs):
//
//   node bench/cluster/profile.mjs [seconds per load, default 15]
//   → bench/profiles/<date>-write-<ops>op-node-<i>.cpuprofile and bench/profiles/<date>-write.md
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { withPrivateCluster } from '../lib/cluster.mjs';

const SECONDS = Number(process.argv[2] ?? 15);
const CONCURRENCY = 64;
const VALUE = Buffer.alloc(100, 7);
const OUT = resolve(import.meta.dirname, '..', 'profiles');
const date = new Date().toISOString().slice(0, 10);
const root = mkdtempSync(join(tmpdir(), 'regionstore-bench-profile-'));
const step = (what) => console.error(`… ${what}`);

/** Self time per function and per package (node_modules name, our package, or node internals). */
function summarize(profile) {
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + dt);
  }
  const byFunction = new Map();
  const byPackage = new Map();
  let total = 0;
  for (const [id, micros] of self) {
    const { callFrame } = byNode.get(id);
    const url = callFrame.url;
    // Frames without a script: V8's (idle), (garbage collector), (program), and native functions
    const where =
      /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ??
      /(packages|apps)\/([^/]+)/.exec(url)?.slice(1).join('/') ??
      (url.startsWith('node:')
        ? 'node internals'
        : url
          ? 'other scripts'
          : callFrame.functionName || 'native');
    const name = `${callFrame.functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}:${callFrame.lineNumber + 1}`;
    const fn = callFrame.url ? name : callFrame.functionName;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + micros);
    byPackage.set(where, (byPackage.get(where) ?? 0) + micros);
    total += micros;
  }
  const top = (map, n) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `| ${k.replaceAll('|', '\\|')} | ${((100 * v) / total).toFixed(1)} % |`);
  return { total, functions: top(byFunction, 25), packages: top(byPackage, 15) };
}

async function profileLoad(ops) {
  const profiles = join(root, `profiles-${ops}`);
  mkdirSync(profiles, { recursive: true });
  step(`${ops}-op writes: starting a cluster with --cpu-prof on every node`);
  await withPrivateCluster(
    join(root, `cluster-${ops}`),
    { nodes: 3, nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${profiles}`] },
    async ({ client }) => {
      let n = 0;
      const until = Date.now() + SECONDS * 1000;
      let done = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async (_, w) => {
          while (Date.now() < until) {
            const i = n++;
            await client.write(
              Array.from({ length: ops }, (_, j) => ({
                op: 'put',
                key: Buffer.from([(w * 37 + i * 11 + j) % 256, ...Buffer.from(`-${w}-${i}-${j}`)]),
                value: VALUE,
              })),
            );
            done += ops;
          }
        }),
      );
      step(`${ops}-op writes: ${Math.round(done / SECONDS)} ops/s under the profiler; stopping the nodes`);
    },
  );
  // One file per process that ran with the flag: the nodes (the metasrv did not get it)
  const files = readdirSync(profiles).filter((f) => f.endsWith('.cpuprofile'));
  const sections = [];
  files.forEach((file, i) => {
    const kept = join(OUT, `${date}-write-${ops}op-node-${i + 1}.cpuprofile`);
    renameSync(join(profiles, file), kept);
    const { total, functions, packages } = summarize(JSON.parse(readFileSync(kept, 'utf8')));
    sections.push(
      `### ${ops}-op writes, node ${i + 1} (${(total / 1e6).toFixed(1)} s sampled; \`${kept.slice(OUT.length - 'bench/profiles'.length)}\`)`,
      '',
      '| package | self time |',
      '|---|---|',
      ...packages,
      '',
      '| function | self time |',
      '|---|---|',
      ...functions,
      '',
    );
  });
  return sections;
}

try {
  mkdirSync(OUT, { recursive: true });
  const report = [
    `# Storage node CPU profiles under writes (${date})`,
    '',
    `\`node bench/cluster/profile.mjs ${SECONDS}\`: ${SECONDS} s of writes, ${CONCURRENCY} in flight, 100-byte values, through RegionStoreClient into a cluster as npm start runs it; self time of each node's samples.`,
    '',
    ...(await profileLoad(1)),
    ...(await profileLoad(128)),
  ].join('\n');
  writeFileSync(join(OUT, `${date}-write.md`), `${report}\n`);
  console.log(report);
} finally {
  rmSync(root, { recursive: true, force: true });
}

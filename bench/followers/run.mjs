// What a follower costs (issue #28): the same load into two clusters as `npm start` runs them
// (metasrv + 3 storage nodes, 8 regions, WAL durability `everysec` on a private Redis with AOF
// `appendfsync everysec`), one with `replication.replicas` 1 (no followers) and one with 2 (a follower
// per region, the default). Per byte loaded: the storage nodes' CPU (process_cpu_seconds_total of
// every node), their data dirs on disk, and what Redis did (commands processed, bytes it sent). The
// replicas 1 cluster is the baseline, measured in the same run.
//
//   npm run bench -- followers
//   REGIONSTORE_BENCH_FOLLOWERS_MIB=64 node bench/followers/run.mjs   (a quick check)
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getJson, nodeCpuSeconds, withPrivateCluster } from '../lib/cluster.mjs';
import { du } from '../lib/disk.mjs';
import { concurrently } from '../lib/load.mjs';
import { figure, printTable, writeResults } from '../lib/report.mjs';

const MiB = 1024 * 1024;
const LOAD_MIB = Number(process.env.REGIONSTORE_BENCH_FOLLOWERS_MIB ?? 256);
const VALUE_BYTES = 1024;
const PER_REQUEST = 16;
const IN_FLIGHT = 32;
const SETTLE_MS = 5000;
const NODES = 3;
const step = (what) => console.error(`… ${what}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const root = mkdtempSync(join(tmpdir(), 'regionstore-bench-followers-'));

async function redisStats(redis) {
  const info = await redis.info('stats');
  const read = (name) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1]);
  return { commands: read('total_commands_processed'), sentBytes: read('total_net_output_bytes') };
}

/** Every route has `followers` followers. */
async function waitForFollowers(metasrvUrl, followers) {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const { routes } = await getJson(`${metasrvUrl}/v1/routes`);
    if (routes.length > 0 && routes.every((r) => (r.followers ?? []).length === followers)) return;
    if (Date.now() > deadline) throw new Error(`routes never had ${followers} follower(s) each`);
    await sleep(500);
  }
}

/** One cluster with `replicas`, loaded with LOAD_MIB; what it cost. */
function measure(replicas) {
  step(`replicas ${replicas}: starting the cluster`);
  const options = { nodes: NODES, metasrvEnv: { REGIONSTORE_REPLICATION__REPLICAS: String(replicas) } };
  return withPrivateCluster(
    join(root, `replicas-${replicas}`),
    options,
    async ({ cluster, client, redis }) => {
      await waitForFollowers(cluster.metasrvUrl, replicas - 1);
      const [cpuBefore, redisBefore] = [await nodeCpuSeconds(cluster.metasrvUrl), await redisStats(redis)];
      const requests = Math.ceil((LOAD_MIB * MiB) / (PER_REQUEST * VALUE_BYTES));
      step(`replicas ${replicas}: loading ${LOAD_MIB} MiB`);
      const started = performance.now();
      let sent = 0;
      await concurrently(requests * PER_REQUEST, PER_REQUEST, IN_FLIGHT, async () => {
        const random = randomBytes(PER_REQUEST * (VALUE_BYTES + 1));
        const mutations = [];
        for (let j = 0; j < PER_REQUEST; j++) {
          const key = Buffer.from(`.k${String(sent++).padStart(11, '0')}`);
          key[0] = random[PER_REQUEST * VALUE_BYTES + j]; // spread over every region
          mutations.push({ op: 'put', key, value: random.subarray(j * VALUE_BYTES, (j + 1) * VALUE_BYTES) });
        }
        await client.write(mutations);
      });
      const loadSeconds = (performance.now() - started) / 1000;
      // Followers finish applying what they read; the nodes settle.
      await sleep(SETTLE_MS);
      const [cpuAfter, redisAfter] = [await nodeCpuSeconds(cluster.metasrvUrl), await redisStats(redis)];
      let disk = 0;
      for (let i = 1; i <= NODES; i++)
        disk += await du(join(root, `replicas-${replicas}`, 'cluster', `node-${i}`));
      const loadedMib = (sent * (VALUE_BYTES + 13)) / MiB;
      return {
        replicas,
        loadedMib,
        loadMBps: (sent * (VALUE_BYTES + 13)) / 1e6 / loadSeconds,
        cpuSecondsPerGiB: ((cpuAfter - cpuBefore) / loadedMib) * 1024,
        diskPerLoaded: disk / MiB / loadedMib,
        redisCommandsPerWrite: (redisAfter.commands - redisBefore.commands) / (sent / PER_REQUEST),
        redisSentBytesPerLoaded: (redisAfter.sentBytes - redisBefore.sentBytes) / MiB / loadedMib,
      };
    },
  );
}

try {
  const base = await measure(1);
  const followed = await measure(2);
  const pair = (name, unit, key) =>
    figure(`${name}, replicas 2`, unit, followed[key], `the same, replicas 1`, base[key]);
  const figures = [
    pair('node CPU seconds per GiB loaded', 's', 'cpuSecondsPerGiB'),
    pair('node data dirs on disk per MiB loaded', 'MiB', 'diskPerLoaded'),
    pair('Redis commands per write', 'commands', 'redisCommandsPerWrite'),
    pair('Redis bytes sent per MiB loaded', 'MiB', 'redisSentBytesPerLoaded'),
    pair('load rate', 'MB/s', 'loadMBps'),
  ].map((f) => ({ ...f, lowerIsBetter: f.unit !== 'MB/s' }));
  printTable(
    `followers: ${LOAD_MIB} MiB of 16 × 1 KiB puts per write, 32 in flight, into npm start's cluster with replicas 2 (one follower per region) and 1`,
    figures,
  );
  const file = writeResults(
    'followers',
    'npm run bench -- followers',
    { loadMib: LOAD_MIB, runs: [base, followed] },
    figures,
  );
  console.log(`results: ${file}`);
} finally {
  rmSync(root, { recursive: true, force: true });
}

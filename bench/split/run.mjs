// Ordered keys against spread keys (issue #29): the same load into two fresh clusters as `npm start`
// runs them (metasrv + 3 storage nodes, 8 regions, WAL durability `everysec` on a private Redis with
// AOF `appendfsync everysec`, default split, merge and balance settings): YCSB's ordered inserts
// (`user000000000001`, every key after the last: all of it lands in one region until that splits)
// and keys whose first byte is uniform (every region takes its share: the baseline, in the same run).
// After each load, the cluster is given up to SETTLE_S to finish splitting and balancing; then the
// regions, their sizes (as leaders report them) and the leaders per node, and the longest time the
// load went without an acknowledged write (what a split costs the writers).
//
//   npm run bench -- split
//   REGIONSTORE_BENCH_KEEP=1 …   keeps the temp dir (cluster data and logs)
//   REGIONSTORE_BENCH_SPLIT_MIB=256 REGIONSTORE_SPLIT__MAX_SIZE_BYTES=… node bench/split/run.mjs   (a quick check)
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getJson, withPrivateCluster } from '../lib/cluster.mjs';
import { concurrently } from '../lib/load.mjs';
import { figure, printTable, writeResults } from '../lib/report.mjs';

const MiB = 1024 * 1024;
const LOAD_MIB = Number(process.env.REGIONSTORE_BENCH_SPLIT_MIB ?? 2048);
/** The metasrv's split.maxSizeBytes (its default unless the environment sets one for a quick check). */
const MAX_SIZE_BYTES = Number(process.env.REGIONSTORE_SPLIT__MAX_SIZE_BYTES ?? 384 * MiB);
const SETTLE_S = Number(process.env.REGIONSTORE_BENCH_SPLIT_SETTLE_S ?? 300);
const VALUE_BYTES = 1024;
const PER_REQUEST = 16;
const IN_FLIGHT = 32;
const NODES = 3;
const step = (what) => console.error(`… ${what}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const root = mkdtempSync(join(tmpdir(), 'regionstore-bench-split-'));

/** Regions, sizes and leaders per alive node, from the metasrv leader's view. */
async function layout(metasrvUrl) {
  const status = await getJson(`${metasrvUrl}/admin/status`);
  const alive = status.nodes.filter((n) => n.state === 'alive').map((n) => n.id);
  const leaders = Object.fromEntries(alive.map((id) => [id, 0]));
  for (const r of status.regions) if (r.leader in leaders) leaders[r.leader] += 1;
  const sizes = status.regions.map((r) => r.approximateSizeBytes);
  const counts = Object.values(leaders);
  return {
    regionCount: status.regions.length,
    regions: status.regions.map((r) => ({
      regionId: r.regionId,
      leader: r.leader,
      state: r.state,
      sizeMib: r.approximateSizeBytes === null ? null : r.approximateSizeBytes / MiB,
    })),
    maxSizeBytes: Math.max(...sizes.map((s) => s ?? 0)),
    unreported: sizes.filter((s) => s === null).length,
    leaders,
    leaderSpread: Math.max(...counts) - Math.min(...counts),
    busy: status.regions.some((r) => r.state !== 'Normal'),
  };
}

/** The key of the `i`-th put: YCSB's ordered insert, or a uniform first byte then the counter. */
function keyOf(kind, i, randomByte) {
  if (kind === 'ordered') return Buffer.from(`user${String(i).padStart(12, '0')}`);
  const key = Buffer.from(`.k${String(i).padStart(14, '0')}`);
  key[0] = randomByte;
  return key;
}

/** One fresh cluster loaded with LOAD_MIB of `kind` keys; the load rate and how the cluster ended. */
function measure(kind) {
  step(`${kind}: starting the cluster`);
  const options = {
    nodes: NODES,
    ...(process.env.REGIONSTORE_SPLIT__MAX_SIZE_BYTES
      ? { metasrvEnv: { REGIONSTORE_SPLIT__MAX_SIZE_BYTES: process.env.REGIONSTORE_SPLIT__MAX_SIZE_BYTES } }
      : {}),
  };
  return withPrivateCluster(join(root, kind), options, async ({ cluster, client }) => {
    const requests = Math.ceil((LOAD_MIB * MiB) / (PER_REQUEST * (VALUE_BYTES + 16)));
    step(`${kind}: loading ${LOAD_MIB} MiB`);
    const started = performance.now();
    let sent = 0;
    let bytes = 0;
    // The longest time without any write acknowledged: a split whose new half cannot take writes until
    // its flushes end stalls every loop writing to it (all of them, with ordered keys).
    let lastAck = started;
    let longestStallMs = 0;
    const progress = setInterval(async () => {
      const now = await layout(cluster.metasrvUrl).catch(() => undefined);
      if (now)
        step(
          `${kind}: ${(bytes / MiB).toFixed(0)} MiB, ${now.regionCount} regions, largest ${(now.maxSizeBytes / MiB).toFixed(0)} MiB, leaders ${JSON.stringify(now.leaders)}`,
        );
    }, 15_000);
    try {
      await concurrently(requests * PER_REQUEST, PER_REQUEST, IN_FLIGHT, async () => {
        const random = randomBytes(PER_REQUEST * (VALUE_BYTES + 1));
        const mutations = [];
        for (let j = 0; j < PER_REQUEST; j++) {
          const key = keyOf(kind, sent++, random[PER_REQUEST * VALUE_BYTES + j]);
          const value = random.subarray(j * VALUE_BYTES, (j + 1) * VALUE_BYTES);
          bytes += key.length + value.length;
          mutations.push({ op: 'put', key, value });
        }
        await client.write(mutations);
        const now = performance.now();
        longestStallMs = Math.max(longestStallMs, now - lastAck);
        lastAck = now;
      });
    } finally {
      clearInterval(progress);
    }
    const loadSeconds = (performance.now() - started) / 1000;
    step(`${kind}: loaded in ${loadSeconds.toFixed(0)} s; letting splits and balancing finish`);
    const settleStart = performance.now();
    let end = await layout(cluster.metasrvUrl);
    while (
      (end.maxSizeBytes > MAX_SIZE_BYTES || end.leaderSpread > 1 || end.busy || end.unreported > 0) &&
      performance.now() - settleStart < SETTLE_S * 1000
    ) {
      await sleep(2000);
      end = await layout(cluster.metasrvUrl);
    }
    const settleSeconds = (performance.now() - settleStart) / 1000;
    // Every key still reads back after the splits and moves: 1,000 ordered keys spread over the load
    // (a spread key's first byte was random, so those are not checked here).
    let unreadable = null;
    if (kind === 'ordered') {
      const keys = Array.from({ length: 1000 }, (_, i) => keyOf(kind, Math.floor((i * sent) / 1000)));
      unreadable = (await client.batchGet(keys)).filter((v) => v?.length !== VALUE_BYTES).length;
    }
    return {
      kind,
      loadedMib: bytes / MiB,
      loadMBps: bytes / 1e6 / loadSeconds,
      loadSeconds,
      longestStallSeconds: longestStallMs / 1000,
      settleSeconds,
      unreadable,
      end,
    };
  });
}

try {
  const spread = await measure('spread');
  const ordered = await measure('ordered');
  const figures = [
    figure('load rate, ordered keys', 'MB/s', ordered.loadMBps, 'the same, spread keys', spread.loadMBps),
    {
      ...figure(
        'largest region after the ordered load',
        'MiB',
        ordered.end.maxSizeBytes / MiB,
        'split.maxSizeBytes',
        MAX_SIZE_BYTES / MiB,
      ),
      lowerIsBetter: true,
    },
    {
      ...figure(
        'longest time without an acknowledged write, ordered keys',
        's',
        ordered.longestStallSeconds,
        'the same, spread keys',
        spread.longestStallSeconds,
      ),
      lowerIsBetter: true,
    },
    figure(
      'regions after the ordered load',
      'regions',
      ordered.end.regionCount,
      'after the spread load',
      spread.end.regionCount,
    ),
    {
      ...figure(
        'leaders per node, most − fewest, after the ordered load',
        'regions',
        ordered.end.leaderSpread,
        'the target (±1 of even)',
        1,
      ),
      lowerIsBetter: true,
    },
    {
      ...figure(
        'seconds from the end of the ordered load until settled',
        's',
        ordered.settleSeconds,
        'the same, spread keys',
        spread.settleSeconds,
      ),
      lowerIsBetter: true,
    },
  ];
  printTable(
    `split: ${LOAD_MIB} MiB of 16 × 1 KiB puts per write, 32 in flight, ordered keys against spread keys, each into a fresh npm start cluster`,
    figures,
  );
  console.log(
    `ordered: leaders ${JSON.stringify(ordered.end.leaders)}, ${ordered.unreadable} of 1,000 sampled keys unreadable`,
  );
  const file = writeResults(
    'split',
    'npm run bench -- split',
    { loadMib: LOAD_MIB, maxSizeBytes: MAX_SIZE_BYTES, settleLimitS: SETTLE_S, runs: [spread, ordered] },
    figures,
  );
  console.log(`results: ${file}`);
  if (ordered.unreadable > 0) process.exitCode = 1;
} finally {
  if (process.env.REGIONSTORE_BENCH_KEEP === '1') console.error(`kept ${root}`);
  else rmSync(root, { recursive: true, force: true });
}

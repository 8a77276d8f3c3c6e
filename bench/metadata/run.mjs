// Metadata costs per node (SPEC §11): what the metasrv leader spends on one node's heartbeat, and on a
// route lookup by key, when the cluster holds thousands of regions, against the same with a few
// regions (the baseline, same run, same Redis). The node always reports the same 16 regions; the
// other regions belong to other nodes. Real ClusterStore and HeartbeatIntake over a private
// redis-server; node jobs and the supervisor are inert (nothing needs repairing).
//
//   npm run bench -- metadata
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegionId, keyRange } from '@regionstore/core';
import { silentLogger } from '@regionstore/runtime';
import { PrivateRedisServer } from '@regionstore/testing';
import { figure, median, printTable, timed, writeResults } from '../lib/report.mjs';

const require = createRequire(import.meta.url);
const { ClusterStore } = require('../../apps/metasrv/dist/cluster-store.js');
const { HeartbeatIntake } = require('../../apps/metasrv/dist/heartbeat-intake.js');
const IORedis = require('ioredis');

const FEW = 16;
const MANY = Number(process.env.REGIONSTORE_BENCH_METADATA_REGIONS ?? 5000);
const HEARTBEATS = Number(process.env.REGIONSTORE_BENCH_METADATA_HEARTBEATS ?? 2000);
const LOOKUPS = Number(process.env.REGIONSTORE_BENCH_METADATA_LOOKUPS ?? 5000);
const HELD = 16;
const NODES = ['node-a', 'node-b', 'node-c'];
const EPOCH = { version: 1, confVer: 1 };

const root = mkdtempSync(join(tmpdir(), 'regionstore-bench-metadata-'));
const keyOf = (i) => Buffer.from(String(i).padStart(8, '0'));

/** A store holding `regions` routes over the key space; node-a leads the first HELD of them. */
async function clusterOf(redis, regions) {
  const prefix = `bench-metadata-${regions}`;
  const store = new ClusterStore(redis, prefix, 3000, () => Date.now());
  for (let i = 0; i < regions; i++) {
    await store.put({
      regionId: new RegionId(1, i),
      range: keyRange(i === 0 ? '' : keyOf(i), i === regions - 1 ? '' : keyOf(i + 1)),
      // node-a leads its HELD regions; node-b and node-c lead the others and follow each other's.
      leader: i < HELD ? 'node-a' : NODES[1 + (i % 2)],
      followers: [i < HELD ? 'node-b' : NODES[2 - (i % 2)]],
      epoch: EPOCH,
      state: 'Normal',
    });
  }
  const intake = new HeartbeatIntake({
    store,
    supervisor: {
      migrations: { isMigrating: () => false },
      recordRegionStats: () => undefined,
      heartbeats: { accept: async () => undefined },
    },
    nodes: { call: async () => ({}), openCandidate: async () => undefined },
    leases: { begin: () => ({}), grant: async () => undefined, end: () => undefined },
    logger: silentLogger(),
    repairIntervalMs: 1000,
  });
  const heartbeat = {
    nodeId: 'node-a',
    address: 'http://node-a',
    timestampMs: Date.now(),
    seq: 1,
    regions: Array.from({ length: HELD }, (_, i) => ({
      regionId: new RegionId(1, i),
      role: 'leader',
      epoch: EPOCH,
      approximateSizeBytes: 0,
      writtenBytesSinceFlush: 0,
      lastEntryId: 1,
    })),
    opening: [],
  };
  const drop = async () => {
    const keys = await redis.keys(`{${prefix}}*`);
    if (keys.length > 0) await redis.del(...keys);
  };
  return { store, intake, heartbeat, regions, drop };
}

/** Heartbeats accepted per second, one after another (the intake's consumer takes them in turn). */
async function heartbeatRate({ intake, heartbeat }) {
  return median(3, async () => {
    const seconds = await timed(async () => {
      for (let i = 0; i < HEARTBEATS; i++) await intake.accept(heartbeat);
    });
    return HEARTBEATS / seconds;
  });
}

async function lookupRate({ store, regions }) {
  return median(3, async () => {
    const seconds = await timed(async () => {
      for (let i = 0; i < LOOKUPS; i++) {
        const route = await store.routeForKey(keyOf((i * 7919) % regions));
        if (!route) throw new Error('a key with no route');
      }
    });
    return LOOKUPS / seconds;
  });
}

let redisServer;
try {
  redisServer = await PrivateRedisServer.start(join(root, 'redis'), []);
  const redis = new IORedis(redisServer.url);
  const few = await clusterOf(redis, FEW);
  const many = await clusterOf(redis, MANY);
  const figures = [];
  // Interleaved, so the machine's load swings hit both sides.
  const beats = { few: [], many: [] };
  const lookups = { few: [], many: [] };
  for (let round = 0; round < 3; round++) {
    beats.few.push(await heartbeatRate(few));
    beats.many.push(await heartbeatRate(many));
    lookups.few.push(await lookupRate(few));
    lookups.many.push(await lookupRate(many));
  }
  const mid = (values) => [...values].sort((a, b) => a - b)[1];
  figures.push(
    figure(
      `heartbeat intake, node of ${HELD} regions, cluster of ${MANY}`,
      'heartbeats/s',
      mid(beats.many),
      `the same node, cluster of ${FEW}`,
      mid(beats.few),
    ),
    figure(
      `route lookup by key, cluster of ${MANY} regions`,
      'lookups/s',
      mid(lookups.many),
      `cluster of ${FEW}`,
      mid(lookups.few),
    ),
  );
  await few.drop();
  await many.drop();
  redis.disconnect();
  printTable('metadata: per-node costs against the cluster size', figures);
  console.log(
    `\nresults: ${writeResults('metadata', 'npm run bench -- metadata', { few: FEW, many: MANY, held: HELD, heartbeats: HEARTBEATS, lookups: LOOKUPS }, figures)}`,
  );
} finally {
  await redisServer?.kill('SIGTERM').catch(() => undefined);
  rmSync(root, { recursive: true, force: true });
}

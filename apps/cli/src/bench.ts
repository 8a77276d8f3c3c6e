import { randomBytes } from 'node:crypto';
import type { RegionStoreClient } from '@regionstore/client';
import { keyRange, rangeContains } from '@regionstore/core';
import type { ProgressBar } from './progress';
import {
  YcsbKeys,
  loadRecords,
  runWorkload,
  type WorkloadName,
  type YcsbOptions,
  type YcsbResult,
  type YcsbStore,
} from './ycsb';

export interface BenchOptions {
  /** Keys written (and then read); Infinity with `durationMs`: as many as the time allows. */
  keys: number;
  /**
   * Each phase but the cleanup stops starting requests this long after it began; the phases after
   * the writes work over the keys written by then.
   */
  durationMs?: number;
  /** Mutations per write request and keys per batch get. */
  batch: number;
  /** Requests in flight. */
  concurrency: number;
  valueSize: number;
  /** Leave the keys in the cluster instead of deleting them at the end. */
  keep: boolean;
}

export interface BenchRow {
  phase: string;
  keys: number;
  seconds: number;
  keysPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

interface PhaseWork {
  /** Requests to run (Infinity: until the deadline), `perRequest` keys each, `keys` in all. */
  requests: number;
  perRequest: number;
  keys: number;
  concurrency: number;
  /** How long it may start requests (none: until all ran). */
  durationMs?: number | undefined;
}

/**
 * Runs requests `concurrency` at a time until all ran or the time is up, and measures throughput and
 * per-request latency. Requests 0.. `ran - 1` ran, each to its end.
 */
async function phase(
  name: string,
  work: PhaseWork,
  bar: ProgressBar,
  request: (i: number) => Promise<unknown>,
): Promise<{ row: BenchRow; ran: number }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const deadline = work.durationMs === undefined ? Infinity : started + work.durationMs;
  const show = () =>
    work.durationMs === undefined
      ? bar.update(latencies.length * work.perRequest, work.keys, `keys ${name}`)
      : bar.update(
          Math.min(performance.now() - started, work.durationMs) / 1000,
          work.durationMs / 1000,
          `s ${name}`,
        );
  await Promise.all(
    Array.from({ length: Math.min(work.concurrency, work.requests) }, async () => {
      while (next < work.requests && performance.now() < deadline) {
        const i = next++;
        const t = performance.now();
        await request(i);
        latencies.push(performance.now() - t);
        show();
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 100) / 100;
  const keys = Math.min(next * work.perRequest, work.keys);
  return {
    row: {
      phase: name,
      keys,
      seconds: round(seconds),
      keysPerSec: Math.round(keys / seconds),
      p50Ms: round(percentile(latencies, 0.5)),
      p99Ms: round(percentile(latencies, 0.99)),
    },
    ran: next,
  };
}

/**
 * One key prefix per region, inside the region: `<region start> 0x00 __bench/<run>/`. Key i goes to
 * region i mod n, so the load reaches every region and every node, not the one region a common prefix
 * would fall in. Regions too narrow to hold the prefix get no keys.
 */
export async function regionPrefixes(client: RegionStoreClient, run: string): Promise<Buffer[]> {
  const tag = Buffer.from(`\x00__bench/${run}/`);
  return (await client.routes(true))
    .map((route) => ({ route, prefix: Buffer.concat([route.start, tag]) }))
    .filter(({ route, prefix }) => rangeContains(keyRange(route.start, route.end), prefix))
    .map(({ prefix }) => prefix);
}

/** The first key after every key that starts with `prefix` (which ends in '/'). */
const prefixEnd = (prefix: Buffer) => Buffer.concat([prefix.subarray(0, -1), Buffer.from('0')]);

/**
 * A load test through the client against a running cluster: batched writes, point gets, batch gets and
 * a scan of keys spread over every region under prefixes of its own, which it deletes afterwards unless
 * `keep`.
 */
export async function runBench(
  client: RegionStoreClient,
  options: BenchOptions,
  bar: (title: string) => ProgressBar,
): Promise<BenchRow[]> {
  const prefixes = await regionPrefixes(client, randomBytes(4).toString('hex'));
  const key = (i: number) =>
    Buffer.concat([
      prefixes[i % prefixes.length]!,
      Buffer.from(String(Math.floor(i / prefixes.length)).padStart(10, '0')),
    ]);
  const value = randomBytes(options.valueSize);
  const { batch, concurrency, durationMs } = options;
  /** The keys of request r over `total` keys, `batch` a request. */
  const keysOf = (r: number, total: number) =>
    Array.from({ length: Math.min(batch, total - r * batch) }, (_, j) => key(r * batch + j));
  const run = async (name: string, work: PhaseWork, request: (i: number) => Promise<unknown>) => {
    const progress = bar(name);
    try {
      return await phase(name, work, progress, request);
    } finally {
      progress.stop();
    }
  };
  const batches = (keys: number, timed = true) => ({
    requests: Math.ceil(keys / batch),
    perRequest: batch,
    keys,
    concurrency,
    durationMs: timed ? durationMs : undefined,
  });

  const rows: BenchRow[] = [];
  const write = await run('write', batches(options.keys), (r) =>
    client.write(keysOf(r, options.keys).map((k) => ({ op: 'put' as const, key: k, value }))),
  );
  rows.push(write.row);
  const written = write.row.keys;
  const check = (got: Buffer | undefined) => {
    if (!got?.equals(value)) throw new Error('bench read back a value it did not write');
  };
  const gets = { requests: written, perRequest: 1, keys: written, concurrency, durationMs };
  rows.push((await run('get', gets, async (i) => check(await client.get(key(i))))).row);
  rows.push(
    (
      await run('batch-get', batches(written), async (r) =>
        (await client.batchGet(keysOf(r, written))).forEach(check),
      )
    ).row,
  );
  const scan = { requests: 1, perRequest: written, keys: written, concurrency: 1 };
  rows.push(
    (
      await run('scan', scan, async () => {
        let seen = 0;
        for (const prefix of prefixes)
          for await (const _ of client.iterate({ start: prefix, end: prefixEnd(prefix) })) seen++;
        if (seen !== written) throw new Error(`scan saw ${seen} of the ${written} keys written`);
      })
    ).row,
  );
  if (!options.keep) {
    // Every key written goes, however long that takes.
    rows.push(
      (
        await run('cleanup', batches(written, false), (r) =>
          client.write(keysOf(r, written).map((k) => ({ op: 'delete' as const, key: k }))),
        )
      ).row,
    );
  }
  return rows;
}

/** The cluster as a YCSB store: every call goes through the client. */
export function clientStore(client: RegionStoreClient): YcsbStore {
  return {
    read: (key) => client.get(key),
    write: async (entries) => {
      await client.write(entries.map((e) => ({ op: 'put' as const, key: e.key, value: e.value })));
    },
    scan: async (start, end, limit) => (await client.scan({ start, end, limit, pageSize: limit })).length,
  };
}

export interface YcsbBenchOptions extends YcsbOptions {
  workloads: WorkloadName[];
  keep: boolean;
}

/**
 * YCSB against a running cluster: loads `records` records under prefixes of its own, runs each
 * workload over them in turn, then deletes them (and what workload E inserted) unless `keep`.
 */
export async function runYcsbBench(
  client: RegionStoreClient,
  options: YcsbBenchOptions,
  bar: (title: string) => ProgressBar,
): Promise<YcsbResult[]> {
  const keys = new YcsbKeys(await regionPrefixes(client, randomBytes(4).toString('hex')));
  const store = clientStore(client);
  const withBar = async <T>(
    title: string,
    total: number,
    work: (tick: (n: number) => void) => Promise<T>,
  ) => {
    const progress = bar(title);
    try {
      return await work((n) => progress.update(n, total, 'records'));
    } finally {
      progress.stop();
    }
  };
  await withBar('load', options.records, (tick) => loadRecords(store, keys, options, tick));
  const results: YcsbResult[] = [];
  for (const workload of options.workloads) {
    results.push(
      await withBar(`workload ${workload}`, options.operations, (tick) =>
        runWorkload(store, keys, workload, options, tick),
      ),
    );
  }
  if (!options.keep) {
    const total = options.records + results.reduce((n, r) => n + r.inserted, 0);
    await withBar('cleanup', total, async (tick) => {
      for (let first = 0; first < total; first += 1000) {
        const records = Array.from({ length: Math.min(1000, total - first) }, (_, i) => first + i);
        await client.write(records.map((r) => ({ op: 'delete' as const, key: keys.key(r) })));
        tick(first + records.length);
      }
    });
  }
  return results;
}

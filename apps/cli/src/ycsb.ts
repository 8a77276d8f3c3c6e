import { InvalidArgumentError } from '@regionstore/core';
import { ScrambledZipfianGenerator, fnvhash64, hashHex, hashModulo, type Hash64 } from './zipfian';

/**
 * YCSB's core workloads (the operation mixes of YCSB's `workloads/workload{a,b,c,e,f}`), with
 * zipfian-chosen records. A record is one value of `valueSize` bytes (YCSB's ten 100-byte fields in
 * one), so an update writes the whole record.
 */
export const WORKLOADS = {
  a: { read: 0.5, update: 0.5 },
  b: { read: 0.95, update: 0.05 },
  c: { read: 1 },
  e: { scan: 0.95, insert: 0.05 },
  f: { read: 0.5, rmw: 0.5 },
} as const;
export type WorkloadName = keyof typeof WORKLOADS;
export type YcsbOperation = 'read' | 'update' | 'insert' | 'scan' | 'rmw';

/** YCSB's scan lengths: uniform in [1, 100]. */
const MAX_SCAN_LENGTH = 100;
/** Records per write while loading. */
const LOAD_BATCH = 100;

export function parseWorkloads(text: string): WorkloadName[] {
  const names = text.split(',').map((w) => w.trim().toLowerCase());
  for (const name of names) {
    if (!(name in WORKLOADS)) {
      throw new InvalidArgumentError(
        `unknown workload '${name}': expected a, b, c, e or f (comma-separated)`,
      );
    }
  }
  return names as WorkloadName[];
}

/** What a workload runs against: the cluster through the client, or a baseline. */
export interface YcsbStore {
  read(key: Buffer): Promise<Buffer | undefined>;
  write(entries: Array<{ key: Buffer; value: Buffer }>): Promise<void>;
  /** Reads up to `limit` pairs from `start` (before `end`); returns how many. */
  scan(start: Buffer, end: Buffer, limit: number): Promise<number>;
}

/**
 * Record i's key: YCSB's hashed key (`user<fnvhash64(i)>`, the hash in hex) under one of the per-region `prefixes`,
 * so the records spread over every region as YCSB's spread over a hash- or range-sharded store.
 */
export class YcsbKeys {
  constructor(private readonly prefixes: Buffer[]) {
    if (prefixes.length === 0) throw new InvalidArgumentError('no region can hold benchmark keys');
  }

  private prefixOf(hash: Hash64): Buffer {
    return this.prefixes[hashModulo(hash, this.prefixes.length)]!;
  }

  key(record: number): Buffer {
    const hash = fnvhash64(record);
    return Buffer.concat([this.prefixOf(hash), Buffer.from(`user${hashHex(hash)}`)]);
  }

  /** The end of the prefix record i's key lies under (a scan stays inside it). */
  rangeEnd(record: number): Buffer {
    const prefix = this.prefixOf(fnvhash64(record));
    return Buffer.concat([prefix.subarray(0, -1), Buffer.from([prefix.at(-1)! + 1])]);
  }
}

export interface YcsbOptions {
  records: number;
  operations: number;
  concurrency: number;
  valueSize: number;
  /** CPU cores serving the cluster, for the per-core figure. */
  cores: number;
}

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
}

export interface YcsbResult {
  workload: WorkloadName;
  operations: number;
  seconds: number;
  opsPerSec: number;
  opsPerSecPerCore: number;
  /** Records added after the loaded ones (workload E). */
  inserted: number;
  /** Per operation type: count and latency. */
  latency: Partial<Record<YcsbOperation, LatencySummary>>;
}

function summary(latencies: number[]): LatencySummary {
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
  const round = (n: number) => Math.round(n * 1000) / 1000;
  return { count: sorted.length, p50Ms: round(at(0.5)), p99Ms: round(at(0.99)) };
}

/** Runs `count` tasks, `concurrency` at a time; `progress` hears how many are done. */
async function inParallel(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
  progress?: (done: number) => void,
): Promise<void> {
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        await task(next++);
        progress?.(++done);
      }
    }),
  );
}

/** YCSB's load phase: records 0..records-1, in writes of `LOAD_BATCH`. */
export async function loadRecords(
  store: YcsbStore,
  keys: YcsbKeys,
  options: Pick<YcsbOptions, 'records' | 'concurrency' | 'valueSize'>,
  progress?: (done: number) => void,
): Promise<void> {
  const value = Buffer.alloc(options.valueSize, 0x61);
  const writes = Math.ceil(options.records / LOAD_BATCH);
  await inParallel(
    writes,
    options.concurrency,
    async (w) => {
      const first = w * LOAD_BATCH;
      const last = Math.min(options.records, first + LOAD_BATCH);
      const entries = [];
      for (let r = first; r < last; r++) entries.push({ key: keys.key(r), value });
      await store.write(entries);
    },
    progress && ((done) => progress(Math.min(options.records, done * LOAD_BATCH))),
  );
}

/** Picks an operation by the workload's proportions. */
function chooser(workload: WorkloadName): () => YcsbOperation {
  const mix = Object.entries(WORKLOADS[workload]) as Array<[YcsbOperation, number]>;
  return () => {
    let u = Math.random();
    for (const [op, share] of mix) {
      if (u < share) return op;
      u -= share;
    }
    return mix.at(-1)![0];
  };
}

/**
 * YCSB's transaction phase over loaded records. Inserts (workload E) add records after the loaded
 * ones; reads, updates and scans choose among the loaded ones. A read that misses a loaded record
 * fails the run: the store lost it.
 */
export async function runWorkload(
  store: YcsbStore,
  keys: YcsbKeys,
  workload: WorkloadName,
  options: YcsbOptions,
  progress?: (done: number) => void,
): Promise<YcsbResult> {
  const records = new ScrambledZipfianGenerator(options.records);
  const nextOp = chooser(workload);
  const value = Buffer.alloc(options.valueSize, 0x62);
  let inserted = 0;
  const latencies: Partial<Record<YcsbOperation, number[]>> = {};
  const read = async (record: number) => {
    if ((await store.read(keys.key(record))) === undefined) {
      throw new Error(`YCSB ${workload}: record ${record} is missing`);
    }
  };
  const run: Record<YcsbOperation, () => Promise<void>> = {
    read: () => read(records.next()),
    update: () => store.write([{ key: keys.key(records.next()), value }]),
    insert: () => store.write([{ key: keys.key(options.records + inserted++), value }]),
    scan: async () => {
      const record = records.next();
      const length = 1 + Math.floor(Math.random() * MAX_SCAN_LENGTH);
      await store.scan(keys.key(record), keys.rangeEnd(record), length);
    },
    rmw: async () => {
      const record = records.next();
      await read(record);
      await store.write([{ key: keys.key(record), value }]);
    },
  };
  const started = performance.now();
  await inParallel(
    options.operations,
    options.concurrency,
    async () => {
      const op = nextOp();
      const t = performance.now();
      await run[op]();
      (latencies[op] ??= []).push(performance.now() - t);
    },
    progress,
  );
  const seconds = (performance.now() - started) / 1000;
  const opsPerSec = options.operations / seconds;
  return {
    workload,
    operations: options.operations,
    seconds: Math.round(seconds * 100) / 100,
    opsPerSec: Math.round(opsPerSec),
    opsPerSecPerCore: Math.round(opsPerSec / options.cores),
    inserted,
    latency: Object.fromEntries(
      Object.entries(latencies).map(([op, list]) => [op, summary(list)]),
    ) as YcsbResult['latency'],
  };
}

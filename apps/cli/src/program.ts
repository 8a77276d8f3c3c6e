import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RegionStoreClient } from '@regionstore/client';
import { Command, InvalidArgumentError } from 'commander';
import { cpus } from 'node:os';
import { runBench, runYcsbBench } from './bench';
import { displayBytes, displayEpoch, displaySize } from './display';
import { WORKLOADS, parseWorkloads, type WorkloadName, type YcsbResult } from './ycsb';
import { followOperation, progressBar } from './progress';

/** The version of `@regionstore/cli` (its package.json sits next to src/ and dist/). */
const CLI_VERSION = (
  JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }
).version;

export interface Output {
  out(text: string): void;
  /** Where progress bars go (the terminal's stderr); none = no bars. */
  progress?: NodeJS.WritableStream;
}

/** Rows as an aligned text table (the default output); `--json` prints the raw value instead. */
interface RecoveryReport {
  clusterId: string;
  regions: Array<{
    regionId: string;
    leader: string;
    epoch: { version: number; confVer: number };
    walEntryId: number;
    lost: { from: number; to: number; entries: number } | 'unknown' | null;
  }>;
  intact: string[];
  unrecoverable: Array<{ regionId: string; reason: string }>;
  nodes: { asked: string[]; unreachable: string[] };
}

export function table(rows: Array<Record<string, unknown>>): string {
  if (rows.length === 0) return '(none)';
  const columns = Object.keys(rows[0]!);
  const cells = rows.map((row) =>
    columns.map((c) => (typeof row[c] === 'object' ? JSON.stringify(row[c]) : String(row[c] ?? ''))),
  );
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(columns), ...cells.map(line)].join('\n');
}

/** How long `get`, `put`, `delete` and `scan` retry by default: a failover takes a few seconds. */
const DATA_TIMEOUT_MS = 5000;
const BENCH_TIMEOUT_MS = 30_000;

/** Commander's parser for an option that takes a positive integer. */
const positive = (name: string) => (raw: string) => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
  return n;
};

/** `regionctl`: data operations through the client, admin operations on the metasrv. */
export function buildProgram(io: Output): Command {
  const program = new Command('regionctl')
    .description('Talk to a RegionStore cluster')
    .version(CLI_VERSION, '-V, --version')
    .option('--metasrv <url>', 'metasrv base URL', process.env.REGIONSTORE_METASRV ?? 'http://127.0.0.1:7700')
    // No default value here: commander would print it in --help.
    .option(
      '--token <token>',
      "bearer token for the metasrv admin API and the nodes' data API (default: $REGIONSTORE_TOKEN or $REGIONSTORE_ADMIN_TOKEN)",
    )
    .option('--json', 'print JSON instead of tables', false)
    .option(
      '--timeout <ms>',
      'how long a data command keeps retrying through a failover or an unreachable cluster (bench: 30000)',
      positive('--timeout'),
      DATA_TIMEOUT_MS,
    )
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.out(s) });

  const opts = () => program.opts<{ metasrv: string; token?: string; json: boolean; timeout: number }>();
  /** A benchmark rides out a failover; one command a person waits for gives up sooner. */
  const client = (defaultTimeoutMs = DATA_TIMEOUT_MS) => {
    const token = opts().token ?? process.env.REGIONSTORE_TOKEN ?? process.env.REGIONSTORE_ADMIN_TOKEN;
    const retryTimeoutMs =
      program.getOptionValueSource('timeout') === 'default' ? defaultTimeoutMs : opts().timeout;
    return new RegionStoreClient({ metasrv: opts().metasrv, retryTimeoutMs, ...(token ? { token } : {}) });
  };
  const admin = (path: string, body?: unknown) => client().admin(path, body);
  const print = (value: unknown, human?: () => string) =>
    io.out(`${opts().json || !human ? JSON.stringify(value, null, 2) : human()}\n`);
  const bar = (title: string) => progressBar(opts().json ? undefined : io.progress, title);
  /** Starts a backup or restore without waiting, then follows its record with a progress bar. */
  const follow = async (
    start: () => Promise<unknown>,
    statusPath: (id: string) => string,
    title: string,
    /** What to draw for a record: its count (after that of a phase that ended between two polls). */
    count: (record: Record<string, unknown>) => Array<[number, number, string]>,
  ) => {
    const { id } = (await start()) as { id: string };
    const progress = bar(title);
    try {
      return await followOperation(
        async () => (await admin(statusPath(id))) as Record<string, unknown>,
        (record) => count(record).forEach((c) => progress.update(...c)),
      );
    } finally {
      progress.stop();
    }
  };

  program
    .command('put <key> <value>')
    .description('write a UTF-8 key and value')
    .action(async (key: string, value: string) => {
      const { commitTs } = await client().put(Buffer.from(key), Buffer.from(value));
      print({ commitTs: commitTs.toString() }, () => `OK commitTs=${commitTs}`);
    });
  program
    .command('get <key>')
    .description('read a key (latest)')
    .action(async (key: string) => {
      const value = await client().get(Buffer.from(key));
      print({ key, value: value?.toString() ?? null }, () =>
        value === undefined ? '(not found)' : value.toString(),
      );
      if (value === undefined) process.exitCode = 1; // scripts can tell a missing key from a found one
    });
  program
    .command('delete <key>')
    .description('delete a key')
    .action(async (key: string) => {
      const { commitTs } = await client().delete(Buffer.from(key));
      print({ commitTs: commitTs.toString() }, () => `OK commitTs=${commitTs}`);
    });
  program
    .command('scan')
    .description('list live keys in [start, end)')
    .option('--start <key>', 'first key (inclusive)', '')
    .option('--end <key>', 'end key (exclusive; empty = to the last key)', '')
    .option('--limit <n>', 'at most this many', positive('--limit'), 20)
    .option('--reverse', 'keys descending', false)
    .action(async (options: { start: string; end: string; limit: number; reverse: boolean }) => {
      const entries = await client().scan({
        start: Buffer.from(options.start),
        end: Buffer.from(options.end),
        limit: options.limit,
        reverse: options.reverse,
      });
      const rows = entries.map((e) => ({ key: e.key.toString(), value: e.value.toString() }));
      print(rows, () =>
        table(entries.map((e) => ({ key: displayBytes(e.key), value: displayBytes(e.value) }))),
      );
    });

  const cluster = program.command('cluster').description('the cluster as a whole');
  cluster
    .command('status')
    .description('nodes and regions')
    .action(async () => {
      const status = (await admin('/admin/status')) as {
        leader: string;
        maintenance: boolean;
        nodes: Array<Record<string, unknown>>;
        regions: Array<Record<string, unknown>>;
      };
      print(status, () =>
        [
          `metasrv leader: ${status.leader}   maintenance: ${status.maintenance ? 'on' : 'off'}`,
          '',
          table(
            status.nodes.map(({ id, address, state, leaders, phi, drained }) => ({
              node: id,
              address,
              state: drained ? `${String(state)}, drained` : state,
              leaders,
              phi,
            })),
          ),
          '',
          table(
            status.regions.map(
              ({ regionId, leader, epoch, state, approximateSizeBytes, growthBytesPerSec }) => ({
                region: regionId,
                leader,
                epoch: displayEpoch(epoch),
                state,
                size: typeof approximateSizeBytes === 'number' ? displaySize(approximateSizeBytes) : '-',
                growth: typeof growthBytesPerSec === 'number' ? `${displaySize(growthBytesPerSec)}/s` : '-',
              }),
            ),
          ),
        ].join('\n'),
      );
    });

  cluster
    .command('recover')
    .description(
      'after Redis lost the cluster: rebuild routes, WALs and the identity from the object store; reports what is gone',
    )
    .action(async () => {
      const report = (await admin('/admin/cluster/recover', {})) as RecoveryReport;
      const lost = (r: RecoveryReport['regions'][number]) =>
        r.lost === null
          ? 'nothing'
          : r.lost === 'unknown'
            ? 'unknown (no running node holds a copy)'
            : `entries ${r.lost.from}..${r.lost.to} (${r.lost.entries})`;
      print(report, () =>
        [
          `cluster ${report.clusterId}: ${report.regions.length} regions recovered, ${report.intact.length} intact, ${report.unrecoverable.length} unrecoverable`,
          `nodes asked: ${report.nodes.asked.join(', ') || '(none running)'}${report.nodes.unreachable.length ? `; no answer from ${report.nodes.unreachable.join(', ')}` : ''}`,
          '',
          table(
            report.regions.map((r) => ({
              region: r.regionId,
              leader: r.leader,
              epoch: displayEpoch(r.epoch),
              'back to entry': r.walEntryId,
              lost: lost(r),
            })),
          ),
          ...report.unrecoverable.map((u) => `region ${u.regionId} cannot be recovered: ${u.reason}`),
        ].join('\n'),
      );
      if (report.unrecoverable.length > 0) process.exitCode = 1;
    });

  const gc = program.command('gc').description('MVCC garbage collection');
  gc.command('status')
    .description(
      'the GC safepoint (reads and backups below it are refused) and the service safepoints holding it back',
    )
    .action(async () => {
      const status = await client().gcStatus();
      const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
      print(
        {
          ...status,
          safePoint: status.safePoint.toString(),
          services: status.services.map((s) => ({ ...s, safePoint: s.safePoint.toString() })),
        },
        () =>
          [
            status.ageMs === null
              ? 'GC safepoint: none yet (nothing collected)'
              : `GC safepoint: ${status.safePoint} (${seconds(status.ageMs)} old; history kept ${seconds(status.lifeTimeMs)})`,
            status.services.length === 0
              ? 'service safepoints: none'
              : table(
                  status.services.map((s) => ({
                    service: s.serviceId,
                    'safe point': s.safePoint.toString(),
                    expires: s.expiresAt,
                  })),
                ),
          ].join('\n'),
      );
    });

  const region = program.command('region').description('one region');
  region
    .command('migrate <regionId> <toNode>')
    .description('move a region to another node')
    .action(async (regionId: string, to: string) => {
      const result = (await admin('/admin/migrate', { regionId, to })) as { procedureId: string };
      print(result, () => `migration started: procedure ${result.procedureId}`);
    });
  region
    .command('split <regionId>')
    .description('split a region in two, at --key or near the middle of its data; waits for the end')
    .option('--key <key>', 'the first key of the new (right) region, as UTF-8 text')
    .action(async (regionId: string, options: { key?: string }) => {
      const key = options.key === undefined ? {} : { key: Buffer.from(options.key).toString('base64') };
      const record = await follow(
        async () => ({
          id: ((await admin('/admin/split', { regionId, ...key })) as { procedureId: string }).procedureId,
        }),
        (id) => `/admin/procedures/${encodeURIComponent(id)}`,
        'split',
        (r) => [[r['status'] === 'Running' ? 0 : 1, 1, 'split']],
      );
      const context = (record['context'] ?? {}) as { childId?: string };
      print(record, () =>
        record['status'] === 'Done'
          ? `region ${regionId} split: the keys from ${options.key ?? 'its middle'} on are region ${context.childId}`
          : `split of region ${regionId} ${String(record['status'])}: ${String(record['error'] ?? '')}`,
      );
      if (record['status'] !== 'Done') process.exitCode = 1;
    });

  region
    .command('merge <regionId> <sourceId>')
    .description(
      'merge the adjacent region <sourceId> into <regionId> (one node must lead both); waits for the end',
    )
    .action(async (regionId: string, source: string) => {
      const record = await follow(
        async () => ({
          id: ((await admin('/admin/merge', { regionId, source })) as { procedureId: string }).procedureId,
        }),
        (id) => `/admin/procedures/${encodeURIComponent(id)}`,
        'merge',
        (r) => [[r['status'] === 'Running' ? 0 : 1, 1, 'merge']],
      );
      print(record, () =>
        record['status'] === 'Done'
          ? `region ${source} merged into region ${regionId}`
          : `merge of region ${source} into ${regionId} ${String(record['status'])}: ${String(record['error'] ?? '')}`,
      );
      if (record['status'] !== 'Done') process.exitCode = 1;
    });

  program
    .command('maintenance <state>')
    .description('on: detect failures but move nothing; off: normal')
    .action(async (state: string) => {
      if (state !== 'on' && state !== 'off') throw new Error(`maintenance takes on or off, not '${state}'`);
      const result = await admin('/admin/maintenance', { enabled: state === 'on' });
      print(result, () => `maintenance ${state}`);
    });

  const node = program.command('node').description('one storage node');
  for (const [verb, drained] of [
    ['drain', true],
    ['undrain', false],
  ] as const) {
    node
      .command(`${verb} <nodeId>`)
      .description(
        drained
          ? 'take the node out: no new regions or followers there; its regions move away, one per balance round'
          : 'let a drained node take regions again (balancing gives it its share)',
      )
      .action(async (nodeId: string) => {
        const result = (await admin(`/admin/nodes/${encodeURIComponent(nodeId)}/${verb}`, {})) as {
          leads: number;
          follows: number;
        };
        print(result, () =>
          drained
            ? `${nodeId} drained: it leads ${result.leads} and follows ${result.follows} regions; they move away (watch cluster status)`
            : `${nodeId} takes regions again`,
        );
      });
  }

  const backup = program.command('backup').description('cluster backups');
  backup
    .command('create <storage>')
    .description('back up the whole cluster to a storage URL (local:///dir, s3://bucket/prefix?…)')
    .option('--since <ts>', 'incremental: changes after this timestamp (a previous backup’s endVersion)')
    .action(async (storage: string, options: { since?: string }) => {
      const record = await follow(
        () =>
          admin('/admin/backup', {
            storage,
            wait: false,
            ...(options.since ? { startVersion: options.since } : {}),
          }),
        (id) => `/admin/backups/${encodeURIComponent(id)}`,
        'backup',
        (r) => [[Number(r['regionsDone'] ?? 0), Number(r['regionsTotal'] ?? 0), 'regions']],
      );
      print(record, () => table([record]));
      if (record['status'] !== 'Done') process.exitCode = 1;
    });
  backup
    .command('list')
    .description('backups this cluster made')
    .action(async () => {
      const { backups } = (await admin('/admin/backups')) as {
        backups: Array<Record<string, unknown>>;
      };
      print(backups, () => table(backups));
    });
  backup
    .command('status <id>')
    .description('one backup')
    .action(async (id: string) => {
      const record = (await admin(`/admin/backups/${encodeURIComponent(id)}`)) as Record<string, unknown>;
      print(record, () => table([record]));
    });
  program
    .command('restore <storage>')
    .description('restore a backup into the cluster')
    .action(async (storage: string) => {
      let verifyShown = false;
      const verified = (r: Record<string, unknown>): [number, number, string] => [
        Number(r['filesVerified']),
        Number(r['filesTotal'] ?? 0),
        'files verified',
      ];
      const record = await follow(
        () => admin('/admin/restore', { storage, wait: false }),
        (id) => `/admin/restores/${encodeURIComponent(id)}`,
        'restore',
        (r) => {
          if (r['phase'] === 'verify') {
            verifyShown = true;
            return [verified(r)];
          }
          const written: [number, number, string] = [
            Number(r['regionsDone']),
            Number(r['regionsTotal'] ?? 0),
            'regions written',
          ];
          // Verification can end between two polls: its count is still part of what the user sees
          if (verifyShown || r['filesTotal'] === undefined) return [written];
          verifyShown = true;
          return [verified(r), written];
        },
      );
      print(record, () => table([record]));
      if (record['status'] !== 'Done') process.exitCode = 1;
    });

  program
    .command('bench')
    .description(
      'load the cluster through the client: writes, gets, batch gets, a scan (then deletes its keys)',
    )
    .option('--keys <n>', 'keys to write and read', positive('--keys'), 20_000)
    .option('--batch <n>', 'mutations per write, keys per batch get', positive('--batch'), 16)
    .option('--concurrency <n>', 'requests in flight', positive('--concurrency'), 64)
    .option(
      '--value-size <bytes>',
      'bytes per value (default 100; 1000 with --workload)',
      positive('--value-size'),
    )
    .option('--keep', 'leave the keys in the cluster', false)
    .option(
      '--workload <list>',
      `YCSB core workloads instead, comma-separated: ${Object.keys(WORKLOADS).join(', ')}`,
      parseWorkloadOption,
    )
    .option('--records <n>', 'YCSB: records loaded first', positive('--records'), 100_000)
    .option('--operations <n>', 'YCSB: operations per workload', positive('--operations'), 100_000)
    .option(
      '--cores <n>',
      'YCSB: CPU cores serving the cluster (for ops/s per core)',
      positive('--cores'),
      cpus().length,
    )
    .action(
      async (options: {
        keys: number;
        batch: number;
        concurrency: number;
        valueSize?: number;
        keep: boolean;
        workload?: WorkloadName[];
        records: number;
        operations: number;
        cores: number;
      }) => {
        if (options.workload) {
          const results = await runYcsbBench(
            client(BENCH_TIMEOUT_MS),
            { ...options, workloads: options.workload, valueSize: options.valueSize ?? 1000 },
            bar,
          );
          print(results, () => table(results.map(ycsbRow)));
          return;
        }
        const rows = await runBench(
          client(BENCH_TIMEOUT_MS),
          { ...options, valueSize: options.valueSize ?? 100 },
          bar,
        );
        print(rows, () => table(rows as unknown as Array<Record<string, unknown>>));
      },
    );
  return program;
}

function parseWorkloadOption(text: string): WorkloadName[] {
  try {
    return parseWorkloads(text);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** One table row per workload: throughput, then p99 of each operation type it ran. */
function ycsbRow(result: YcsbResult): Record<string, unknown> {
  return {
    workload: result.workload,
    operations: result.operations,
    seconds: result.seconds,
    'ops/s': result.opsPerSec,
    'ops/s/core': result.opsPerSecPerCore,
    ...Object.fromEntries(Object.entries(result.latency).map(([op, l]) => [`${op} p99 ms`, l.p99Ms])),
  };
}

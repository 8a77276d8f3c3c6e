import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RegionStoreClient } from '@regionstore/client';
import { InvalidArgumentError as BadArgument } from '@regionstore/core';
import parseBytes from 'bytes';
import ms, { type StringValue } from 'ms';
import { Command, InvalidArgumentError, Option } from 'commander';
import { cpus } from 'node:os';
import { runBench, runYcsbBench } from './bench';
import { displayBytes, displayEpoch, displayRange, displaySize } from './display';
import { bytesFrom, encodingOf } from './encoding';
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

/** Commander's parser for a timestamp (`--ts`, as `put` prints it). */
const timestamp = (name: string) => (raw: string) => {
  if (!/^[1-9]\d{0,19}$/.test(raw))
    throw new InvalidArgumentError(`${name} must be a timestamp (a positive integer)`);
  return BigInt(raw);
};

/** Commander's parser for bytes per second: `10MiB`, `512KiB`, `1GB` (binary units), or a number. */
const bytesPerSecond = (name: string) => (raw: string) => {
  const text = raw.trim().replace(/\/s$/i, '');
  // `bytes` reads kb/mb/gb/tb as binary units; MiB, M and MB all mean the same here.
  const unit = /^(\d+(?:\.\d+)?)\s*(?:([kmgt])i?b?|b)?$/i.exec(text);
  const parsed = unit ? parseBytes(`${unit[1]}${unit[2] ? `${unit[2]}b` : ''}`) : null;
  if (parsed === null || !Number.isSafeInteger(parsed) || parsed < 1) {
    throw new InvalidArgumentError(`${name} must be a size per second, such as 10MiB`);
  }
  return parsed;
};

/** Commander's parser for a duration: `10s`, `1m`, `500ms` (the `ms` package's forms). */
const duration = (name: string) => (raw: string) => {
  const parsed = /^\d+(\.\d+)?\s*(ms|s|m|h)$/i.test(raw.trim()) ? ms(raw.trim() as StringValue) : undefined;
  if (parsed === undefined || !(parsed > 0)) {
    throw new InvalidArgumentError(`${name} must be a duration such as 10s, 1m or 500ms`);
  }
  return parsed;
};

/** One value given as an argument or as an option, not both. */
function eitherOf<T>(argument: T | undefined, option: T | undefined, name: string): T | undefined {
  if (argument !== undefined && option !== undefined) {
    throw new BadArgument(`give ${name} once: as an argument or as --${name}`, { [name]: String(argument) });
  }
  return argument ?? option;
}

/** A restore's phases, in order (see the metasrv's ClusterRestore). */
const RESTORE_PHASES = ['verify', 'check', 'write'] as const;
type RestorePhase = (typeof RESTORE_PHASES)[number];

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
    .option('--hex', 'keys and values in hex (arguments and output)', false)
    .option('--base64', 'keys and values in base64 (arguments and output)', false)
    .option(
      '--timeout <ms>',
      'how long a data command keeps retrying through a failover or an unreachable cluster (bench: 30000)',
      positive('--timeout'),
      DATA_TIMEOUT_MS,
    )
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.out(s) })
    // Checked before any command runs, even one that reads no key.
    .hook('preAction', () => void encodingOf(program.opts()));

  const opts = () =>
    program.opts<{
      metasrv: string;
      token?: string;
      json: boolean;
      timeout: number;
      hex: boolean;
      base64: boolean;
    }>();
  /** A key or value argument as bytes, in the encoding asked for. */
  const bytes = (text: string, what: string) => bytesFrom(text, encodingOf(opts()), what);
  /** Bytes as output shows them: in the encoding asked for, or (UTF-8) as text. */
  const shown = (value: Buffer) => value.toString(encodingOf(opts()));
  /** Table cells: UTF-8 as readable as possible, an asked-for encoding as it is. */
  const cell = (value: Buffer) => (encodingOf(opts()) === 'utf8' ? displayBytes(value) : shown(value));
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
    .description('write a key and value (UTF-8, or --hex / --base64)')
    .action(async (key: string, value: string) => {
      const { commitTs } = await client().put(bytes(key, 'key'), bytes(value, 'value'));
      print({ commitTs: commitTs.toString() }, () => `OK commitTs=${commitTs}`);
    });
  program
    .command('get <key>')
    .description('read a key (latest); exits 1 if it is missing')
    .action(async (key: string) => {
      const value = await client().get(bytes(key, 'key'));
      print({ key, value: value === undefined ? null : shown(value) }, () =>
        value === undefined ? '(not found)' : shown(value),
      );
      if (value === undefined) process.exitCode = 1; // scripts can tell a missing key from a found one
    });
  program
    .command('delete <key>')
    .description('delete a key')
    .action(async (key: string) => {
      const { commitTs } = await client().delete(bytes(key, 'key'));
      print({ commitTs: commitTs.toString() }, () => `OK commitTs=${commitTs}`);
    });
  program
    .command('scan [start] [end]')
    .description('list live keys in [start, end) (empty start: from the first key; empty end: to the last)')
    .option('--start <key>', 'first key (inclusive), as the argument')
    .option('--end <key>', 'end key (exclusive), as the argument')
    .option('--limit <n>', 'at most this many', positive('--limit'), 20)
    .option('--ts <ts>', 'read as of this timestamp (default: now)', timestamp('--ts'))
    .option('--reverse', 'keys descending', false)
    .action(
      async (
        startArg: string | undefined,
        endArg: string | undefined,
        options: { start?: string; end?: string; limit: number; ts?: bigint; reverse: boolean },
      ) => {
        const entries = await client().scan({
          start: bytes(eitherOf(startArg, options.start, 'start') ?? '', 'start'),
          end: bytes(eitherOf(endArg, options.end, 'end') ?? '', 'end'),
          limit: options.limit,
          reverse: options.reverse,
          ...(options.ts === undefined ? {} : { ts: options.ts }),
        });
        const rows = entries.map((e) => ({ key: shown(e.key), value: shown(e.value) }));
        print(rows, () => table(entries.map((e) => ({ key: cell(e.key), value: cell(e.value) }))));
      },
    );

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
            status.nodes.map(({ id, address, state, regions, leaders, phi, drained }) => ({
              node: id,
              address,
              state: drained ? `${String(state)}, drained` : state,
              regions,
              leaders,
              phi,
            })),
          ),
          '',
          table(
            status.regions.map(
              ({
                regionId,
                start,
                end,
                leader,
                epoch,
                state,
                approximateSizeBytes,
                approximateKeys,
                growthBytesPerSec,
              }) => ({
                region: regionId,
                range: displayRange(
                  Buffer.from(String(start ?? ''), 'base64'),
                  Buffer.from(String(end ?? ''), 'base64'),
                ),
                leader,
                epoch: displayEpoch(epoch),
                state,
                size: typeof approximateSizeBytes === 'number' ? displaySize(approximateSizeBytes) : '-',
                keys: typeof approximateKeys === 'number' ? approximateKeys : '-',
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
    .option('--key <key>', 'the first key of the new (right) region (UTF-8, or --hex / --base64)')
    .action(async (regionId: string, options: { key?: string }) => {
      const key = options.key === undefined ? {} : { key: bytes(options.key, 'key').toString('base64') };
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
    .command('create [storage]')
    .description(
      'back up the cluster (or --start..--end of it) to a storage URL (local:///dir, s3://bucket/prefix?…)',
    )
    .option('--storage <url>', 'where the backup goes, as the argument')
    .option('--start <key>', 'first key backed up (inclusive; default: the first key)')
    .option('--end <key>', 'end of the keys backed up (exclusive; default: to the last key)')
    .option(
      '--since <ts>',
      'incremental: changes after this timestamp (a previous backup’s endVersion)',
      timestamp('--since'),
    )
    .option(
      '--rate-limit <size>',
      'bytes per second each node writes, such as 10MiB (default: unlimited)',
      bytesPerSecond('--rate-limit'),
    )
    .addOption(
      new Option('--compression <type>', 'how backup files are compressed (default: lz4)').choices([
        'lz4',
        'snappy',
        'zstd',
        'none',
      ]),
    )
    .action(
      async (
        storageArg: string | undefined,
        options: {
          storage?: string;
          start?: string;
          end?: string;
          since?: bigint;
          rateLimit?: number;
          compression?: string;
        },
      ) => {
        const storage = required(eitherOf(storageArg, options.storage, 'storage'), 'storage');
        const key = (text: string | undefined, what: string) =>
          text === undefined ? undefined : bytes(text, what).toString('base64');
        const record = await follow(
          () =>
            admin('/admin/backup', {
              storage,
              wait: false,
              startKey: key(options.start, 'start'),
              endKey: key(options.end, 'end'),
              startVersion: options.since?.toString(),
              rateLimit: options.rateLimit,
              compressionType: options.compression,
            }),
          (id) => `/admin/backups/${encodeURIComponent(id)}`,
          'backup',
          (r) => [[Number(r['regionsDone'] ?? 0), Number(r['regionsTotal'] ?? 0), 'regions']],
        );
        print(record, () => table([record]));
        if (record['status'] !== 'Done') process.exitCode = 1;
      },
    );
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
    .command('restore [storage]')
    .description(
      'restore a backup into the cluster, from a storage URL or a backup of this cluster (--backup)',
    )
    .option('--storage <url>', 'where the backup is, as the argument')
    .option('--backup <id>', 'a finished backup this cluster made (backup list): restore from where it went')
    .option(
      '--force',
      'restore even where the cluster holds versions newer than the backup (refused otherwise: they would stay visible over it)',
    )
    .action(
      async (
        storageArg: string | undefined,
        options: { storage?: string; backup?: string; force?: boolean },
      ) => {
        const storage = await restoreSource(eitherOf(storageArg, options.storage, 'storage'), options.backup);
        // Each phase's count, once its total is known; a phase that ended between two polls is still
        // drawn with its final count before the next one's.
        const counts: Record<
          RestorePhase,
          (r: Record<string, unknown>) => [number, number, string] | undefined
        > = {
          verify: (r) =>
            r['filesTotal'] === undefined
              ? undefined
              : [Number(r['filesVerified']), Number(r['filesTotal']), 'files verified'],
          check: (r) =>
            r['regionsToCheck'] === undefined
              ? undefined
              : [Number(r['regionsChecked']), Number(r['regionsToCheck']), 'regions checked'],
          write: (r) =>
            r['regionsTotal'] === undefined
              ? undefined
              : [Number(r['regionsDone']), Number(r['regionsTotal']), 'regions written'],
        };
        let drawn = 0;
        const record = await follow(
          () => admin('/admin/restore', { storage, wait: false, ...(options.force ? { force: true } : {}) }),
          (id) => `/admin/restores/${encodeURIComponent(id)}`,
          'restore',
          (r) => {
            const at = Math.max(0, RESTORE_PHASES.indexOf(r['phase'] as RestorePhase));
            const updates = RESTORE_PHASES.slice(Math.min(drawn, at), at + 1).flatMap((phase) => {
              const count = counts[phase](r);
              return count ? [count] : [];
            });
            drawn = at;
            return updates;
          },
        );
        print(record, () => table([record]));
        if (record['status'] !== 'Done') process.exitCode = 1;
      },
    );

  /** Where a restore reads: the URL given, or that of the backup named (and they must agree). */
  const restoreSource = async (storage: string | undefined, backupId: string | undefined) => {
    if (backupId === undefined) return required(storage, 'storage');
    const record = (await admin(`/admin/backups/${encodeURIComponent(backupId)}`)) as {
      storage: string;
      status: string;
    };
    if (record.status !== 'Done') {
      throw new BadArgument(
        `backup ${backupId} is ${record.status}, not Done: there is nothing whole to restore`,
        {
          backup: backupId,
        },
      );
    }
    if (storage !== undefined && storage !== record.storage) {
      throw new BadArgument(`backup ${backupId} went to ${record.storage}, not ${storage}`, {
        backup: backupId,
      });
    }
    return record.storage;
  };

  const bench = program
    .command('bench')
    .description(
      'load the cluster through the client: writes, gets, batch gets, a scan (then deletes its keys)',
    )
    .option(
      '--keys <n>',
      'keys to write and read (with --duration: no limit unless given)',
      positive('--keys'),
      20_000,
    )
    .option(
      '--duration <time>',
      'each phase stops starting requests after this long: 10s, 1m, 500ms',
      duration('--duration'),
    )
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
        duration?: number;
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
        const timed = options.duration !== undefined;
        const rows = await runBench(
          client(BENCH_TIMEOUT_MS),
          {
            ...options,
            keys: timed && bench.getOptionValueSource('keys') === 'default' ? Infinity : options.keys,
            ...(timed ? { durationMs: options.duration } : {}),
            valueSize: options.valueSize ?? 100,
          },
          bar,
        );
        print(rows, () => table(rows as unknown as Array<Record<string, unknown>>));
      },
    );
  return program;
}

/** A value the command cannot go without, given as an argument or an option. */
function required(value: string | undefined, name: string): string {
  if (value === undefined) throw new BadArgument(`missing ${name}: give it as an argument or as --${name}`);
  return value;
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

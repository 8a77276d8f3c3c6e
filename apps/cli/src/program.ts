import { RegionStoreClient } from '@regionstore/client';
import { composeTimestamp } from '@regionstore/core';
import { errorFromResponse } from '@regionstore/protocol';
import { Command } from 'commander';

export interface Output {
  out(text: string): void;
}

/** The `regionstore` command: data operations through the client, admin operations on the metasrv. */
export function buildProgram(io: Output): Command {
  const program = new Command('regionstore')
    .description('Talk to a RegionStore cluster')
    .option('--metasrv <url>', 'metasrv base URL', process.env.REGIONSTORE_METASRV ?? 'http://127.0.0.1:7700')
    .option('--token <token>', 'admin bearer token', process.env.REGIONSTORE_ADMIN_TOKEN)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.out(s) });

  const opts = () => program.opts<{ metasrv: string; token?: string }>();
  const client = () => new RegionStoreClient({ metasrv: opts().metasrv });
  const admin = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
    const response = await fetch(`${opts().metasrv}${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(opts().token ? { authorization: `Bearer ${opts().token}` } : {}),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json: unknown = await response.json().catch(() => ({}));
    if (!response.ok) throw errorFromResponse(response.status, json);
    return json;
  };
  const print = (value: unknown) =>
    io.out(`${typeof value === 'string' ? value : JSON.stringify(value, null, 2)}\n`);

  program
    .command('put <key> <value>')
    .description('write a UTF-8 key and value')
    .action(async (key: string, value: string) => {
      const { commitTs } = await client().put(Buffer.from(key), Buffer.from(value));
      print(`OK commitTs=${commitTs}`);
    });
  program
    .command('get <key>')
    .description('read a key (latest)')
    .action(async (key: string) => {
      const value = await client().get(Buffer.from(key));
      print(value === undefined ? '(not found)' : value.toString());
    });
  program
    .command('delete <key>')
    .description('delete a key')
    .action(async (key: string) => {
      const { commitTs } = await client().delete(Buffer.from(key));
      print(`OK commitTs=${commitTs}`);
    });
  program
    .command('scan')
    .description('list live keys in [start, end)')
    .option('--start <key>', 'first key (inclusive)', '')
    .option('--end <key>', 'end key (exclusive; empty = to the last key)', '')
    .option('--limit <n>', 'at most this many', '20')
    .option('--reverse', 'keys descending', false)
    .action(async (options: { start: string; end: string; limit: string; reverse: boolean }) => {
      const entries = await client().scan({
        start: Buffer.from(options.start),
        end: Buffer.from(options.end),
        limit: Number(options.limit),
        reverse: options.reverse,
      });
      print(entries.map((e) => `${e.key.toString()}\t${e.value.toString()}`).join('\n') || '(empty)');
    });
  program
    .command('status')
    .description('nodes and regions')
    .action(async () => print(await admin('GET', '/admin/status')));
  program
    .command('migrate <regionId> <toNode>')
    .description('move a region to another node')
    .action(async (regionId: string, to: string) =>
      print(await admin('POST', '/admin/migrate', { regionId, to })),
    );
  program
    .command('maintenance <state>')
    .description('on: detect failures but move nothing; off: normal')
    .action(async (state: string) =>
      print(await admin('POST', '/admin/maintenance', { enabled: state === 'on' })),
    );
  program
    .command('backup <storage>')
    .description('back up the whole cluster to a storage URL (local:///dir, s3://bucket/prefix?…)')
    .option('--since <ts>', 'incremental: changes after this timestamp (a previous backup’s endVersion)')
    .action(async (storage: string, options: { since?: string }) => {
      const endVersion = composeTimestamp(Date.now()).toString();
      print(
        await admin('POST', '/admin/backup', {
          storage,
          endVersion,
          ...(options.since ? { startVersion: options.since } : {}),
        }),
      );
    });
  program
    .command('restore <storage>')
    .description('restore a backup into the cluster')
    .action(async (storage: string) => print(await admin('POST', '/admin/restore', { storage })));
  return program;
}

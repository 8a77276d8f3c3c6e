import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { RegionStoreClient } from '@regionstore/client';
import { PrivateRedisServer, useRedisNamespace, useTempDir } from '@regionstore/testing';
import { Redis } from 'ioredis';
import { freePort, spread, waitFor } from './cluster';

const tools = createRequire(__filename);
const { dropKeys } = tools('../../tools/cluster.cjs') as {
  dropKeys: (redis: unknown, prefix: string) => Promise<void>;
};
const { childrenOf } = tools('../../tools/chaos/launcher.cjs') as {
  childrenOf: (pid: number) => { pid: number; command: string }[];
};

const dir = useTempDir('e2e-start-cluster');
const ns = useRedisNamespace('e2e-start-cluster');
const REPO = resolve(__dirname, '../..');
const CLI_MAIN = join(REPO, 'apps/cli/dist/main.js');

/** Whether a Redis answers at `url` (one try, no retries). */
async function redisAnswers(url: string): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/** `pid`'s children, their children, and so on. */
function descendantsOf(pid: number): number[] {
  return childrenOf(pid).flatMap((child) => [child.pid, ...descendantsOf(child.pid)]);
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const answers = (url: string) =>
  fetch(url).then(
    (reply) => reply.status === 200,
    () => false,
  );

/** A launcher process (`node tools/start-cluster.mjs`, or `npm start`) and what it has printed. */
interface Launch {
  child: ChildProcess;
  /** The metasrv's URL. */
  metasrv: string;
  output(): string;
  exited: Promise<number | null>;
}

/** What a launch uses unless told otherwise: the test's Redis namespace, no AOF needed. */
const scratchEnv = (prefix: string) => ({
  REDIS_URL: ns.url,
  REGIONSTORE_KEY_PREFIX: prefix,
  REGIONSTORE_WAL__DURABILITY: 'unsafe',
});

/**
 * Starts a launcher on a scratch directory with `env` over this process's environment; resolves once
 * it has printed `until` (default: that the cluster is up).
 */
async function launch(
  command: string,
  args: string[],
  data: string,
  env: Record<string, string>,
  until = 'RegionStore is up',
): Promise<Launch> {
  const port = await freePort();
  const child = spawn(
    command,
    // Nodes on ports the system picks: fixed ones could be taken by tests running beside this one.
    [...args, '--no-build', '--any-node-ports', '--dir', data, '--port', String(port)],
    { cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  launched.push(child);
  let output = '';
  const collect = (chunk: Buffer) => void (output += chunk.toString());
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let up = false;
  // Whichever comes first: what was awaited, or the launcher gone (then say what it printed).
  await Promise.race([
    waitFor(() => output.includes(until), `the launcher to print '${until}'`, 90_000).then(
      () => void (up = true),
      (err: Error) => {
        throw new Error(`${err.message}\n${output}`);
      },
    ),
    exited.then((code) => {
      if (!up) throw new Error(`the launcher exited (${code}) before printing '${until}':\n${output}`);
    }),
  ]);
  return { child, metasrv: `http://127.0.0.1:${port}`, output: () => output, exited };
}

const launched: ChildProcess[] = [];
afterAll(() => {
  for (const child of launched) if (child.exitCode === null) child.kill('SIGKILL');
});

describe('npm start (tools/start-cluster.mjs)', () => {
  it('shows pretty logs, adds nodes that get their share, starts a killed metasrv again, and stops every process on SIGTERM', async () => {
    const data = dir.sub('cluster');
    const {
      child: launcher,
      metasrv,
      output,
      exited,
    } = await launch(process.execPath, ['tools/start-cluster.mjs'], data, scratchEnv(ns.prefix));
    // The console gets pino-pretty lines, not the JSON the log files keep.
    await waitFor(
      () => /INFO \(storage-node node-1\): storage node started/.test(output()),
      'pretty log lines',
      60_000,
    );
    expect(output()).not.toMatch(/\{"level":\d+/);
    expect(readFileSync(join(data, 'node-1.log'), 'utf8')).toMatch(/\{"level":30/);

    const children = childrenOf(launcher.pid!);
    const app = (name: string) =>
      children.find((child) => child.command.includes(`apps/${name}/dist/main.js`));
    expect(children.filter((child) => child.command.includes('apps/storage-node/dist/main.js'))).toHaveLength(
      3,
    );

    // Two nodes join the running cluster (npm run add-node) and get their share of the 8 regions.
    for (const added of ['node-4', 'node-5']) {
      const add = spawnSync(process.execPath, ['tools/add-node.mjs', '--dir', data], {
        cwd: REPO,
        encoding: 'utf8',
      });
      expect(add.stderr).toBe('');
      expect(add.stdout).toContain(`${added} joined the cluster`);
    }
    expect(JSON.parse(readFileSync(join(data, 'launcher.json'), 'utf8'))).toMatchObject({ nodes: 5 });
    const shares = await waitFor(
      async () => {
        const routes = (await (await fetch(`${metasrv}/v1/routes`)).json()) as {
          routes: { leader: string }[];
        };
        const led = ['node-1', 'node-2', 'node-3', 'node-4', 'node-5'].map(
          (id) => routes.routes.filter((r) => r.leader === id).length,
        );
        return Math.max(...led) - Math.min(...led) <= 1 ? led : undefined;
      },
      'the added nodes to lead their share',
      300_000,
    );
    expect(shares!.slice(3).every((led) => led >= 1)).toBe(true);
    expect(output()).toContain('adding node-5');

    const killed = app('metasrv')!;
    process.kill(killed.pid, 'SIGKILL');
    await waitFor(
      () => output().includes('metasrv-1 exited (signal SIGKILL)'),
      'the launcher to notice',
      60_000,
    );
    expect(output()).toContain('starting metasrv-1 again');
    await waitFor(() => answers(`${metasrv}/ready`), 'the new metasrv to answer', 60_000);
    const restarted = childrenOf(launcher.pid!).find((child) =>
      child.command.includes('apps/metasrv/dist/main.js'),
    );
    expect(restarted?.pid).not.toBe(killed.pid);

    const everyone = childrenOf(launcher.pid!).map((child) => child.pid);
    launcher.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output()).toContain('stopping (SIGTERM)');
    await waitFor(() => everyone.every((pid) => !alive(pid)), 'every process to be gone', 20_000);
    expect(await answers(`${metasrv}/health`)).toBe(false);
  }, 480_000);

  it.each(['SIGINT', 'SIGTERM'] as const)(
    '%s to the npm process (what a terminal or a service manager sends) stops every process',
    async (signal) => {
      const {
        child: npm,
        output,
        exited,
      } = await launch(
        'npm',
        ['start', '--'],
        dir.sub(`npm-${signal}`),
        scratchEnv(`${ns.prefix}-${signal}`),
      );
      const everyone = descendantsOf(npm.pid!);
      expect(everyone.length).toBeGreaterThanOrEqual(5); // the launcher, the metasrv, 3 nodes
      npm.kill(signal);
      expect(await exited).toBe(0);
      expect(output()).toContain(`stopping (${signal})`);
      await waitFor(() => everyone.every((pid) => !alive(pid)), 'every process to be gone', 20_000);
    },
    180_000,
  );

  it('keeps every key, and a split, across Ctrl-C and npm start when the system Redis keeps no AOF (Debian’s default)', async () => {
    // The system Redis as Debian ships it: no AOF, so the launcher runs a Redis of its own with one.
    const debian = await PrivateRedisServer.start(dir.sub('debian-redis'), ['--appendonly', 'no']);
    const data = dir.sub('restart');
    const redisDir = dir.sub('restart-redis');
    const env = { REDIS_URL: debian.url, REGIONSTORE_KEY_PREFIX: `${ns.prefix}-restart` };
    const args = ['tools/start-cluster.mjs', '--redis-dir', redisDir];
    try {
      const first = await launch(process.execPath, args, data, env);
      expect(first.output()).toContain('keeps no AOF');
      const own = /started redis-server on (redis:\/\/\S+) \(data in ([^,]+),/.exec(first.output());
      if (!own) throw new Error(`the launcher did not say where its Redis is:\n${first.output()}`);
      const [, ownUrl, ownData] = own as unknown as [string, string, string];
      expect(ownData).toContain(redisDir);
      const keys = spread('restart', 64);
      const client = new RegionStoreClient({ metasrv: first.metasrv, retryTimeoutMs: 60_000 });
      try {
        for (const key of keys) await client.put(key, key);
        // A split: the next start finds 9 regions, not the bootstrap's 8, and must come up all the same
        const split = await fetch(`${first.metasrv}/admin/split`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ regionId: '1:2', key: Buffer.from('P').toString('base64') }),
        });
        expect(split.status).toBe(200);
        await waitFor(async () => (await client.routes(true)).length === 9, 'the split', 60_000);
      } finally {
        await client.close();
      }
      first.child.kill('SIGINT');
      expect(await first.exited).toBe(0);
      expect(first.output()).toContain(`stopped the redis-server on ${ownUrl}`);
      expect(await redisAnswers(ownUrl)).toBe(false);

      const second = await launch(process.execPath, args, data, env);
      expect(second.output()).toContain(`started redis-server on ${ownUrl}`); // its port, remembered
      const again = new RegionStoreClient({ metasrv: second.metasrv, retryTimeoutMs: 60_000 });
      try {
        expect(await again.routes()).toHaveLength(9);
        const values = await Promise.all(keys.map((key) => again.get(key)));
        expect(values.filter((value, i) => value?.equals(keys[i]!)).length).toBe(keys.length);
      } finally {
        await again.close();
      }
      const metasrvLog = readFileSync(join(data, 'metasrv-1.log'), 'utf8');
      expect(metasrvLog.match(/cluster bootstrapped/g)).toHaveLength(1);
      second.child.kill('SIGINT');
      expect(await second.exited).toBe(0);
      expect(await redisAnswers(ownUrl)).toBe(false);
    } finally {
      await debian.kill('SIGTERM');
    }
  }, 300_000);

  it('waits for regionctl cluster recover when Redis lost the cluster, then starts the refused nodes', async () => {
    const data = dir.sub('lost');
    const env = scratchEnv(`${ns.prefix}-lost`);
    const first = await launch(process.execPath, ['tools/start-cluster.mjs'], data, env);
    first.child.kill('SIGINT');
    expect(await first.exited).toBe(0);
    const redis = await ns.connect();
    await dropKeys(redis, env.REGIONSTORE_KEY_PREFIX); // what a FLUSHALL does to this cluster

    const second = await launch(process.execPath, ['tools/start-cluster.mjs'], data, env, 'refused to start');
    await waitFor(() => second.output().includes('the metasrv refuses to bootstrap'), 'the metasrv', 30_000);
    expect(second.output()).toContain(`npm run regionctl -- --metasrv ${second.metasrv} cluster recover`);
    expect(second.child.exitCode).toBeNull(); // waiting, not crash-looping

    const recover = spawnSync(
      process.execPath,
      [CLI_MAIN, '--metasrv', second.metasrv, 'cluster', 'recover', '--json'],
      {
        encoding: 'utf8',
      },
    );
    expect(recover.status).toBe(0);
    expect((JSON.parse(recover.stdout) as { regions: unknown[] }).regions).toHaveLength(8);
    await waitFor(() => second.output().includes('RegionStore is up'), 'the cluster after recovery', 120_000);
    const client = new RegionStoreClient({ metasrv: second.metasrv, retryTimeoutMs: 60_000 });
    try {
      const key = Buffer.from('after-recovery');
      await client.put(key, key);
      expect((await client.get(key))?.equals(key)).toBe(true);
    } finally {
      await client.close();
    }
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
  }, 300_000);
});

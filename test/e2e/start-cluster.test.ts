import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { useRedisNamespace, useTempDir } from '@regionstore/testing';
import { freePort, waitFor } from './cluster';

const dir = useTempDir('e2e-start-cluster');
const ns = useRedisNamespace('e2e-start-cluster');
const REPO = resolve(__dirname, '../..');

/** The processes whose parent is `pid`, with their command lines (Linux /proc). */
function childrenOf(pid: number): { pid: number; command: string }[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((entry) => {
      try {
        // The command name may hold spaces and parentheses: the fields start after its last ')'.
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid !== pid) return [];
        const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
        return [{ pid: Number(entry), command }];
      } catch {
        return []; // gone meanwhile
      }
    });
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

/** Starts a launcher on a scratch directory and key prefix; resolves once it says the cluster is up. */
async function launch(command: string, args: string[], data: string, prefix: string): Promise<Launch> {
  const port = await freePort();
  const child = spawn(
    command,
    // Nodes on ports the system picks: fixed ones could be taken by tests running beside this one.
    [...args, '--no-build', '--any-node-ports', '--dir', data, '--port', String(port)],
    {
      cwd: REPO,
      env: {
        ...process.env,
        REDIS_URL: ns.url,
        REGIONSTORE_KEY_PREFIX: prefix,
        REGIONSTORE_WAL__DURABILITY: 'unsafe',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  launched.push(child);
  let output = '';
  const collect = (chunk: Buffer) => void (output += chunk.toString());
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let up = false;
  // Whichever comes first: the cluster up, or the launcher gone (then say what it printed).
  await Promise.race([
    waitFor(() => output.includes('RegionStore is up'), 'the cluster to come up', 90_000).then(
      () => void (up = true),
      (err: Error) => {
        throw new Error(`${err.message}\n${output}`);
      },
    ),
    exited.then((code) => {
      if (!up) throw new Error(`the launcher exited (${code}) before the cluster was up:\n${output}`);
    }),
  ]);
  return { child, metasrv: `http://127.0.0.1:${port}`, output: () => output, exited };
}

const launched: ChildProcess[] = [];
afterAll(() => {
  for (const child of launched) if (child.exitCode === null) child.kill('SIGKILL');
});

describe('npm start (tools/start-cluster.mjs)', () => {
  it('shows pretty logs, starts a killed metasrv again, and stops every process on SIGTERM', async () => {
    const data = dir.sub('cluster');
    const {
      child: launcher,
      metasrv,
      output,
      exited,
    } = await launch(process.execPath, ['tools/start-cluster.mjs'], data, ns.prefix);
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
  }, 180_000);

  it.each(['SIGINT', 'SIGTERM'] as const)(
    '%s to the npm process (what a terminal or a service manager sends) stops every process',
    async (signal) => {
      const {
        child: npm,
        output,
        exited,
      } = await launch('npm', ['start', '--'], dir.sub(`npm-${signal}`), `${ns.prefix}-${signal}`);
      const everyone = descendantsOf(npm.pid!);
      expect(everyone.length).toBeGreaterThanOrEqual(5); // the launcher, the metasrv, 3 nodes
      npm.kill(signal);
      expect(await exited).toBe(0);
      expect(output()).toContain(`stopping (${signal})`);
      await waitFor(() => everyone.every((pid) => !alive(pid)), 'every process to be gone', 20_000);
    },
    180_000,
  );
});

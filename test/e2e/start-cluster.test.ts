import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { useRedisNamespace, useTempDir } from '@regionstore/testing';
import { freePort, waitFor } from './cluster';

const dir = useTempDir('e2e-start-cluster');
const ns = useRedisNamespace('e2e-start-cluster');
const LAUNCHER = resolve(__dirname, '../../tools/start-cluster.mjs');

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

describe('npm start (tools/start-cluster.mjs)', () => {
  let launcher: ChildProcess | undefined;
  afterAll(() => {
    if (launcher?.exitCode === null) launcher.kill('SIGKILL');
  });

  it('shows pretty logs, starts a killed metasrv again, and stops every process on SIGTERM', async () => {
    const port = await freePort();
    const data = dir.sub('cluster');
    const metasrv = `http://127.0.0.1:${port}`;
    let output = '';
    launcher = spawn(process.execPath, [LAUNCHER, '--no-build', '--dir', data, '--port', String(port)], {
      env: {
        ...process.env,
        REDIS_URL: ns.url,
        REGIONSTORE_KEY_PREFIX: ns.prefix,
        REGIONSTORE_WAL__DURABILITY: 'unsafe',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collect = (chunk: Buffer) => void (output += chunk.toString());
    launcher.stdout!.on('data', collect);
    launcher.stderr!.on('data', collect);
    const exited = new Promise<number | null>((r) => launcher!.once('exit', (code) => r(code)));
    const launcherPid = launcher.pid!;

    await waitFor(() => output.includes('RegionStore is up'), 'the cluster to come up', 90_000);
    // The console gets pino-pretty lines, not the JSON the log files keep.
    await waitFor(
      () => /INFO \(storage-node node-1\): storage node started/.test(output),
      'pretty log lines',
      60_000,
    );
    expect(output).not.toMatch(/\{"level":\d+/);
    expect(readFileSync(join(data, 'node-1.log'), 'utf8')).toMatch(/\{"level":30/);

    const children = childrenOf(launcherPid);
    const app = (name: string) =>
      children.find((child) => child.command.includes(`apps/${name}/dist/main.js`));
    expect(children.filter((child) => child.command.includes('apps/storage-node/dist/main.js'))).toHaveLength(
      3,
    );
    const killed = app('metasrv')!;
    process.kill(killed.pid, 'SIGKILL');
    await waitFor(
      () => output.includes('metasrv-1 exited (signal SIGKILL)'),
      'the launcher to notice',
      60_000,
    );
    expect(output).toContain('starting metasrv-1 again');
    await waitFor(() => answers(`${metasrv}/ready`), 'the new metasrv to answer', 60_000);
    const restarted = childrenOf(launcherPid).find((child) =>
      child.command.includes('apps/metasrv/dist/main.js'),
    );
    expect(restarted?.pid).not.toBe(killed.pid);

    const everyone = childrenOf(launcherPid).map((child) => child.pid);
    launcher.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('stopping (SIGTERM)');
    await waitFor(() => everyone.every((pid) => !alive(pid)), 'every process to be gone', 20_000);
    expect(await answers(`${metasrv}/health`)).toBe(false);
  }, 180_000);

  it.each(['SIGINT', 'SIGTERM'] as const)(
    '%s to the npm process (what a terminal or a service manager sends) stops every process',
    async (signal) => {
      const port = await freePort();
      let output = '';
      const npm = spawn(
        'npm',
        ['start', '--', '--no-build', '--dir', dir.sub(`npm-${signal}`), '--port', String(port)],
        {
          cwd: resolve(__dirname, '../..'),
          env: {
            ...process.env,
            REDIS_URL: ns.url,
            REGIONSTORE_KEY_PREFIX: `${ns.prefix}-${signal}`,
            REGIONSTORE_WAL__DURABILITY: 'unsafe',
            REGIONSTORE_CONSOLE_LEVEL: 'warn',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      launcher = npm;
      npm.stdout!.on('data', (chunk: Buffer) => void (output += chunk.toString()));
      npm.stderr!.on('data', (chunk: Buffer) => void (output += chunk.toString()));
      const exited = new Promise<number | null>((r) => npm.once('exit', (code) => r(code)));
      await waitFor(() => output.includes('RegionStore is up'), 'the cluster to come up', 90_000);
      const everyone = descendantsOf(npm.pid!);
      expect(everyone.length).toBeGreaterThanOrEqual(5); // the launcher, the metasrv, 3 nodes
      npm.kill(signal);
      expect(await exited).toBe(0);
      expect(output).toContain(`stopping (${signal})`);
      await waitFor(() => everyone.every((pid) => !alive(pid)), 'every process to be gone', 20_000);
    },
    180_000,
  );
});

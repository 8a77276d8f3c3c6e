import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { RegionStoreClient } from '@regionstore/client';
import { useRedisNamespace, useTempDir } from '@regionstore/testing';
import { freePort } from './cluster';

const { startCluster } = createRequire(__filename)('../../tools/cluster.cjs') as {
  startCluster: (options: object) => Promise<unknown>;
};
const dir = useTempDir('e2e-launcher');
const ns = useRedisNamespace('e2e-launcher');

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });

/** Pids of the processes whose environment holds `variable` (`NAME=value`), from /proc. */
function processesWith(variable: string): number[] {
  const pids: number[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(variable)) pids.push(Number(pid));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

describe('the launcher (npm start, tests, benchmarks)', () => {
  it('fails at once when a process exits during start-up, says why, and leaves no process behind', async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    const started = Date.now();
    // A token under 8 characters: every process refuses its configuration and exits.
    const failure = await startCluster({
      dir: dir.sub('cluster'),
      redisUrl: ns.url,
      prefix: ns.prefix,
      nodes: 2,
      metasrvPort: ports[0],
      nodePorts: ports.slice(1),
      logLevel: 'info',
      token: 'secret',
      durability: 'unsafe',
    }).then(
      () => undefined,
      (err: Error) => err,
    );
    expect(failure?.message).toMatch(
      /(metasrv-1|node-\d) exited during start-up \(code 1\); the others were stopped/,
    );
    expect(failure?.message).toMatch(/Token|too small|>=8|at least 8/i); // the reason, from its log
    expect(Date.now() - started).toBeLessThan(30_000); // not the 60 s bootstrap timeout
  });

  it('stops the processes that did start when one of them exits during start-up', async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    // Something else holds node-2's port: it alone fails (at listen), the metasrv and node-1 come up.
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(ports[2], '127.0.0.1', resolve));
    const clusterDir = dir.sub('port-taken');
    try {
      const failure = await startCluster({
        dir: clusterDir,
        redisUrl: ns.url,
        prefix: `${ns.prefix}-port-taken`,
        nodes: 2,
        metasrvPort: ports[0],
        nodePorts: ports.slice(1),
        logLevel: 'info',
        durability: 'unsafe',
      }).then(
        () => undefined,
        (err: Error) => err,
      );
      expect(failure?.message).toMatch(/node-2 exited during start-up \(code 1\); the others were stopped/);
      expect(failure?.message).toMatch(/EADDRINUSE|address already in use/i);
      // The metasrv and node-1 do not stop by themselves (their parent, this test, lives on): if any
      // process of this cluster is left, the launcher did not stop it.
      expect(processesWith(`REGIONSTORE_SNAPSHOT_STORAGE=local://${join(clusterDir, 'objects')}`)).toEqual(
        [],
      );
      for (const port of ports.slice(0, 2)) expect(await listening(port)).toBe(false);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it('leaves no process behind when the launcher itself is killed -9 (its children stop by themselves)', async () => {
    const ports = [await freePort(), await freePort()];
    // A launcher of its own, in a process this test can kill without the chance to clean up.
    const script = `
      const { startCluster } = require(${JSON.stringify(require.resolve('../../tools/cluster.cjs'))});
      startCluster(${JSON.stringify({
        dir: dir.sub('orphans'),
        redisUrl: ns.url,
        prefix: `${ns.prefix}-orphans`,
        nodes: 1,
        initialRegions: 1,
        metasrvPort: ports[0],
        nodePorts: [ports[1]],
        logLevel: 'warn',
        durability: 'unsafe',
      })}).then(() => console.log('up'), (err) => { console.error(err); process.exit(1); });
    `;
    const launcher = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      launcher.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('up') && resolve());
      launcher.once('exit', (code) => reject(new Error(`launcher exited with ${code}`)));
    });
    for (const port of ports) expect(await listening(port)).toBe(true);
    launcher.kill('SIGKILL');
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && (await Promise.all(ports.map(listening))).some(Boolean)) {
      await new Promise((r) => setTimeout(r, 200));
    }
    for (const port of ports) expect(await listening(port)).toBe(false);
  });

  it('reports a process that exits by itself, with the end of its log, and not one it was told to stop', async () => {
    type Exit = { name: string; code: number | null; signal: string | null; lines: string };
    const cluster = (await startCluster({
      dir: dir.sub('crash'),
      redisUrl: ns.url,
      prefix: `${ns.prefix}-crash`,
      nodes: 2,
      initialRegions: 2,
      metasrvPort: await freePort(),
      logLevel: 'info',
      durability: 'unsafe',
    })) as {
      stop(): Promise<void>;
      kill(name: string, signal?: string): Promise<void>;
      processes: Map<string, { pid: number; once(event: 'exit', listener: () => void): void }>;
      onUnexpectedExit(listener: (exit: Exit) => void): void;
    };
    const exits: Exit[] = [];
    cluster.onUnexpectedExit((exit) => exits.push(exit));
    // Killed from outside (an OOM killer, an operator): reported.
    const node = cluster.processes.get('node-2')!;
    const gone = new Promise<void>((resolve) => node.once('exit', resolve));
    process.kill(node.pid, 'SIGKILL');
    await gone;
    await new Promise((r) => setTimeout(r, 100));
    expect(exits).toHaveLength(1);
    expect(exits[0]).toMatchObject({ name: 'node-2', signal: 'SIGKILL' });
    expect(exits[0]!.lines).toMatch(/storage node started|plugin started|listening/);
    // Stopped through the launcher: not a crash.
    await cluster.kill('node-1', 'SIGTERM');
    await cluster.stop();
    expect(exits).toHaveLength(1);
  });

  it('takes the log level from REGIONSTORE_LOG_LEVEL when not told one (REGIONSTORE_LOG_LEVEL=debug npm start)', async () => {
    process.env.REGIONSTORE_LOG_LEVEL = 'debug';
    let cluster: { stop(): Promise<void>; dir: string } | undefined;
    try {
      cluster = (await startCluster({
        dir: dir.sub('debug'),
        redisUrl: ns.url,
        prefix: `${ns.prefix}-debug`,
        nodes: 1,
        initialRegions: 1,
        metasrvPort: await freePort(),
        durability: 'unsafe',
      })) as { stop(): Promise<void>; dir: string };
    } finally {
      delete process.env.REGIONSTORE_LOG_LEVEL;
    }
    await cluster.stop();
    // 'plugin started' is logged at debug level
    expect(readFileSync(join(cluster.dir, 'node-1.log'), 'utf8')).toMatch(
      /"level":20,.*"msg":"plugin started"/,
    );
  });

  it("lets backups go to the cluster's own object store by default, and nowhere outside the defaults", async () => {
    const cluster = (await startCluster({
      dir: dir.sub('defaults'),
      redisUrl: ns.url,
      prefix: `${ns.prefix}-defaults`,
      nodes: 1,
      initialRegions: 1,
      metasrvPort: await freePort(),
      logLevel: 'warn',
      durability: 'unsafe',
    })) as { stop(): Promise<void>; dir: string; metasrvUrl: string };
    try {
      const client = new RegionStoreClient({ metasrv: cluster.metasrvUrl });
      await client.put(Buffer.from('k'), Buffer.from('v'));
      const own = `local://${join(cluster.dir, 'objects', 'backups', 'first')}`;
      expect(await client.backup({ storage: own })).toMatchObject({ status: 'Done', kvs: 1 });
      await expect(client.backup({ storage: `local://${dir.sub('elsewhere')}` })).rejects.toMatchObject({
        code: 'Forbidden',
      });
    } finally {
      await cluster.stop();
    }
  });

  it('npm run add-node says so, without a stack trace, when the metasrv of a running npm start does not answer', async () => {
    const data = dir.sub('add-node-unanswered');
    mkdirSync(data);
    // Stands for a launcher still starting its metasrv: a live process named like it, a port nobody serves.
    const launcher = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)', 'start-cluster.mjs']);
    try {
      const metasrvUrl = `http://127.0.0.1:${await freePort()}`;
      writeFileSync(join(data, 'launcher.json'), JSON.stringify({ pid: launcher.pid, nodes: 1, metasrvUrl }));
      const add = spawnSync(process.execPath, ['tools/add-node.mjs', '--dir', data], {
        cwd: join(__dirname, '..', '..'),
        encoding: 'utf8',
      });
      expect(add.status).toBe(1);
      expect(add.stderr).toContain(`The metasrv at ${metasrvUrl} does not answer (ECONNREFUSED)`);
      expect(add.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(launcher.exitCode).toBeNull(); // it was not asked to start a node (SIGUSR2 would kill this one)
    } finally {
      launcher.kill();
    }
  });
});

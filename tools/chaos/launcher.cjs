// A cluster run as a user runs it: `node tools/start-cluster.mjs` (what `npm start` execs), pointed
// at a system Redis, with the Redis of its own it then starts. The chaos harness's launcher mode
// stops and starts that launcher as a whole: Ctrl-C, a service manager's SIGTERM, or kill -9.
'use strict';
const { spawn } = require('node:child_process');
const { readFileSync, readdirSync } = require('node:fs');
const { join } = require('node:path');
const { processAlive: alive, repoRoot, waitFor } = require('../cluster.cjs');

/** The processes whose parent is `pid` (Linux /proc), with their command lines. */
function childrenOf(pid) {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((entry) => {
      try {
        // The command name may hold spaces and parentheses: the fields start after its last ')'.
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid !== pid) return [];
        return [
          { pid: Number(entry), command: readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ') },
        ];
      } catch {
        return []; // gone meanwhile
      }
    });
}

class LauncherCluster {
  /**
   * @param {{dir: string, redisUrl: string, prefix: string, metasrvPort: number}} options
   * `redisUrl`: the system Redis the launcher is pointed at (REDIS_URL).
   */
  constructor(options) {
    this.options = options;
    this.metasrvUrl = `http://127.0.0.1:${options.metasrvPort}`;
    this.child = undefined;
    this.output = '';
  }

  get running() {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the launcher; resolves once it says the cluster is up. */
  async start() {
    const { dir, redisUrl, prefix, metasrvPort } = this.options;
    const child = spawn(
      process.execPath,
      [
        join(repoRoot, 'tools', 'start-cluster.mjs'),
        '--no-build',
        '--any-node-ports',
        '--dir',
        join(dir, 'cluster'),
        '--redis-dir',
        join(dir, 'redis'),
        '--port',
        String(metasrvPort),
      ],
      {
        cwd: repoRoot,
        env: {
          ...process.env,
          REDIS_URL: redisUrl,
          REGIONSTORE_KEY_PREFIX: prefix,
          REGIONSTORE_CONSOLE_LEVEL: 'warn',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.child = child;
    this.output = '';
    const collect = (chunk) => void (this.output = `${this.output}${chunk}`.slice(-20_000));
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    await waitFor(
      () => {
        if (child.exitCode !== null)
          throw new Error(`the launcher exited (${child.exitCode}):\n${this.output}`);
        return this.output.includes('RegionStore is up');
      },
      'the launcher to start the cluster',
      120_000,
    );
  }

  /**
   * Stops the launcher with `signal` and waits until its cluster's processes are gone. After a
   * SIGKILL its Redis outlives it (the next start uses it again); the nodes and the metasrv stop by
   * themselves once their parent is gone.
   */
  async stop(signal = 'SIGINT') {
    const child = this.child;
    if (!this.running) return;
    const apps = childrenOf(child.pid)
      .filter((p) => !p.command.includes('redis-server'))
      .map((p) => p.pid);
    await new Promise((resolveExit) => {
      child.once('exit', resolveExit);
      child.kill(signal);
    });
    await waitFor(() => apps.every((pid) => !alive(pid)), "the launcher's processes to exit", 60_000);
  }

  async routes() {
    return (await (await fetch(`${this.metasrvUrl}/v1/routes`)).json()).routes;
  }
}

module.exports = { LauncherCluster, childrenOf };

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { createRedis, waitForRedis, type Redis } from '@regionstore/runtime';

/** A TCP port nothing listens on now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Runs `fn` on a short-lived connection to one server; fails at once when it does not answer. */
export async function askRedis<T>(url: string, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = createRedis(url, 'client', { retryStrategy: () => null });
  try {
    await waitForRedis(redis, 2000);
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

/**
 * A redis-server of the test's own (tests that kill and restart Redis must not touch the shared one).
 * AOF with `appendfsync always`, so what Redis acknowledged survives a kill -9 and comes back on restart.
 * `settings` come after those and win (`['--appendonly', 'no']` is Debian's default persistence).
 */
export class PrivateRedisServer {
  private process: ChildProcess | undefined;

  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly settings: string[],
  ) {}

  static async start(dir: string, settings: string[] = []): Promise<PrivateRedisServer> {
    mkdirSync(dir, { recursive: true });
    const server = new PrivateRedisServer(dir, await freePort(), settings);
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts the server (again) on the same port and data directory; resolves once it answers. */
  async restart(): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        ...this.settings,
      ],
      { stdio: 'ignore' },
    );
    this.process = child;
    const probe = createRedis(this.url, 'client', { retryStrategy: () => 50, lazyConnect: false });
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          await waitForRedis(probe, 200);
          await probe.ping();
          return;
        } catch (err) {
          if (attempt > 100 || child.exitCode !== null) throw err;
        }
      }
    } finally {
      probe.disconnect();
    }
  }

  /** Kills the server (SIGKILL by default) and waits for it to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }
}

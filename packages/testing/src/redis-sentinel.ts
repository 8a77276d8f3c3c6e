import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PrivateRedisServer, askRedis, freePort } from './redis-server';

/**
 * A primary with one replica, watched by one Sentinel (quorum 1): the smallest Sentinel deployment,
 * for tests. Sentinel promotes the replica `downAfterMs` after the primary stops answering.
 */
export class PrivateRedisSentinel {
  private constructor(
    readonly primary: PrivateRedisServer,
    readonly replica: PrivateRedisServer,
    private readonly sentinel: ChildProcess,
    readonly sentinelPort: number,
    readonly name: string,
  ) {}

  static async start(dir: string, options: { downAfterMs?: number } = {}): Promise<PrivateRedisSentinel> {
    const settings = ['--appendfsync', 'everysec', '--repl-diskless-sync-delay', '0'];
    const primary = await PrivateRedisServer.start(join(dir, 'primary'), settings);
    const replica = await PrivateRedisServer.start(join(dir, 'replica'), [
      ...settings,
      '--replicaof',
      '127.0.0.1',
      String(primary.port),
    ]);
    const port = await freePort();
    const name = 'regionstore-test';
    mkdirSync(join(dir, 'sentinel'), { recursive: true });
    const conf = join(dir, 'sentinel', 'sentinel.conf'); // Sentinel rewrites it: a file of its own
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${join(dir, 'sentinel')}`,
        `sentinel monitor ${name} 127.0.0.1 ${primary.port} 1`,
        `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 1000}`,
        `sentinel failover-timeout ${name} 5000`,
        '',
      ].join('\n'),
    );
    const sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
    const started = new PrivateRedisSentinel(primary, replica, sentinel, port, name);
    try {
      await started.waitForReplica();
      // the Sentinel answers (it may still be starting)
      for (let attempt = 0; !(await started.primaryPort().catch(() => 0)); attempt++) {
        if (attempt > 50) throw new Error('the Sentinel does not answer');
        await new Promise((r) => setTimeout(r, 100));
      }
    } catch (err) {
      await started.stop();
      throw err;
    }
    return started;
  }

  /** What `redis.sentinels` takes. */
  get sentinelUrl(): string {
    return `redis://127.0.0.1:${this.sentinelPort}`;
  }

  /** The port of the server Sentinel names as primary now. */
  async primaryPort(): Promise<number> {
    return askRedis(this.sentinelUrl, async (sentinel) => {
      const [, port] = (await sentinel.call('SENTINEL', 'get-master-addr-by-name', this.name)) as string[];
      return Number(port);
    });
  }

  /** Waits until the current primary has a replica in sync. */
  async waitForReplica(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const server of [this.primary, this.replica]) {
        const info = await askRedis(server.url, (redis) => redis.info('replication')).catch(() => '');
        if (/role:master/.test(info) && /slave0:.*state=online/.test(info)) return; // else down or not ready
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`no primary with a replica in sync after ${timeoutMs} ms`);
  }

  async stop(): Promise<void> {
    if (this.sentinel.exitCode === null) {
      await new Promise<void>((resolve) => {
        this.sentinel.once('exit', () => resolve());
        this.sentinel.kill('SIGKILL');
      });
    }
    await this.primary.kill();
    await this.replica.kill();
  }
}

// Opens Bull Board in headless Chromium (Debian `chromium`) on a cluster with an admin token, as a
// person would: without credentials (the browser gets a Basic login challenge), then logged in with
// the token as password (the board renders its queues). `node tools/board-browser-check.mjs`
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

const run = promisify(execFile);
const { startCluster, freePort, dropKeys } = createRequire(import.meta.url)('./cluster.cjs');
const browser = process.env.CHROMIUM ?? 'chromium';
const token = 'board-check-token';
const dir = mkdtempSync(join(tmpdir(), 'regionstore-board-check-'));
const dump = async (url) =>
  (
    await run(
      browser,
      ['--headless', '--no-sandbox', '--disable-gpu', '--virtual-time-budget=20000', '--dump-dom', url],
      { timeout: 60_000, maxBuffer: 16 << 20 },
    )
  ).stdout;

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `rs-board-check-${process.pid}`;
const cluster = await startCluster({
  dir,
  redisUrl,
  prefix,
  nodes: 1,
  initialRegions: 1,
  metasrvPort: await freePort(),
  logLevel: 'warn',
  token,
  durability: 'unsafe',
});
let failed = false;
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  failed ||= !ok;
};
try {
  const { host } = new URL(cluster.metasrvUrl);
  const anonymous = await dump(`http://${host}/admin/queues/`);
  // A Basic challenge makes a browser ask for a login; headless, it cancels and shows nothing.
  check(!/Bull Dashboard|metasrv/.test(anonymous), 'without a login: no board, no queue');
  const wrong = await dump(`http://operator:wrong@${host}/admin/queues/`);
  check(!/Bull Dashboard|metasrv/.test(wrong), 'a wrong password: no board, no queue');
  const board = await dump(`http://operator:${token}@${host}/admin/queues/`);
  check(
    /metasrv/.test(board),
    'logged in (any user, the token as password): the board lists the metasrv queue',
  );
} finally {
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
  // The cluster's keys: `{prefix}…` (metadata, queues) and `prefix:wal:…`.
  const redis = new Redis(redisUrl);
  await dropKeys(redis, prefix);
  redis.disconnect();
}
process.exit(failed ? 1 : 0);

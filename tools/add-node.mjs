// `npm run add-node [-- --dir DIR]`: one more storage node for the cluster a running `npm start`
// keeps in DIR (default .data/cluster). That launcher starts it (it then restarts and stops it like
// the others, and its next start starts as many nodes); this waits until the metasrv counts the node
// alive. Region balancing then moves regions to it, one every `balance.intervalMs`.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { readLauncherState } from './launcher-state.mjs';

const require = createRequire(import.meta.url);
const { processAlive, repoRoot, waitFor } = require('./cluster.cjs');

const { values: args } = parseArgs({
  options: { dir: { type: 'string', default: resolve(repoRoot, '.data', 'cluster') } },
});
const dir = resolve(args.dir);
const state = readLauncherState(dir);
/** Whether `pid` is a running launcher (where /proc tells; elsewhere, that it is alive). */
const isLauncher = (pid) => {
  if (!Number.isInteger(pid) || !processAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('start-cluster.mjs');
  } catch {
    return true;
  }
};
if (!state || !isLauncher(state.pid)) {
  console.error(`No npm start is running for ${dir}: start the cluster first (npm start).`);
  process.exit(1);
}
// The admin token of a secured cluster, as regionctl takes it.
const token = process.env.REGIONSTORE_TOKEN ?? process.env.REGIONSTORE_ADMIN_TOKEN;
const headers = token ? { authorization: `Bearer ${token}` } : {};
const status = async () => {
  const response = await fetch(`${state.metasrvUrl}/admin/status`, { headers });
  if (response.status === 401 || response.status === 403) {
    console.error(
      `The metasrv at ${state.metasrvUrl} refused the ${token ? 'token given' : 'request without a token'}: ` +
        'set REGIONSTORE_TOKEN (or REGIONSTORE_ADMIN_TOKEN) to the token npm start was given.',
    );
    process.exit(1);
  }
  return response.json();
};
// A refused token or a metasrv that does not answer fails here, before a node is started.
await status().catch((err) => {
  const cause = err.cause?.code ?? err.cause?.message ?? err.message;
  console.error(
    `The metasrv at ${state.metasrvUrl} does not answer (${cause}): npm start may still be starting ` +
      `or restarting it; see ${dir}/metasrv-1.log, and try again.`,
  );
  process.exit(1);
});
const name = `node-${state.nodes + 1}`;
process.kill(state.pid, 'SIGUSR2');
console.log(`asked npm start (pid ${state.pid}) to start ${name} …`);
try {
  await waitFor(
    async () => {
      const { nodes } = await status();
      return nodes?.some((n) => n.id === name && n.state === 'alive');
    },
    `${name} to join`,
    60_000,
  );
} catch (err) {
  console.error(`${err.message}; see ${dir}/${name}.log`);
  process.exit(1);
}
console.log(
  `${name} joined the cluster; regions move to it as balancing runs (${state.metasrvUrl}/admin/status).`,
);

// The faults of the chaos harness. Each takes the running cluster (tools/cluster.cjs) and its Redis,
// does its damage, heals it, and returns what it did.
'use strict';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const pick = (items) => items[Math.floor(Math.random() * items.length)];

async function routes(cluster) {
  return cluster.waitFor(async () => cluster.routes(), 'the routes', 60_000);
}

async function admin(cluster, path, body) {
  const response = await fetch(`${cluster.metasrvUrl}${path}`, {
    method: body ? 'POST' : 'GET',
    headers: body ? { 'content-type': 'application/json' } : {},
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const json = await response.json();
  if (!response.ok) throw new Error(`${path}: ${json.code}: ${json.message}`);
  return json;
}

/** Time from now until every region is led by a node other than `dead`, with an address. */
async function waitForFailover(cluster, dead) {
  const from = Date.now();
  await cluster.waitFor(
    async () => (await cluster.routes()).every((r) => r.leader !== dead && r.address),
    `the regions of ${dead} to move`,
    60_000,
  );
  return Date.now() - from;
}

/** Starts a procedure (`/admin/migrate`, `/admin/split`); resolves with its id. */
async function startProcedure(cluster, path, body, what) {
  const started = await cluster.waitFor(() => admin(cluster, path, body), `${what} to start`, 30_000);
  return started.procedureId;
}

/** Resolves with a procedure's final state. */
async function procedureEnd(cluster, id, what) {
  return cluster.waitFor(
    async () => {
      const state = await admin(cluster, `/admin/procedures/${id}`);
      return state.status === 'Running' ? undefined : state;
    },
    what,
    120_000,
  );
}

/** Starts a procedure and resolves with its final state. */
async function runProcedure(cluster, path, body, what) {
  return procedureEnd(cluster, await startProcedure(cluster, path, body, what), what);
}

async function migrate(cluster, regionId, to) {
  return (await runProcedure(cluster, '/admin/migrate', { regionId, to }, `the migration of ${regionId}`))
    .status;
}

const nodeNames = (cluster) => [...cluster.processes.keys()].filter((n) => n.startsWith('node-'));

/** Every fault by name: `run(ctx)` resolves with details once the fault has healed. */
const FAULTS = {
  /** kill -9 a node, wait for its regions to move, start it again. */
  async kill({ cluster }) {
    const name = pick(nodeNames(cluster));
    const leads = (await routes(cluster)).some((r) => r.leader === name);
    await cluster.kill(name, 'SIGKILL');
    const failoverMs = leads ? await waitForFailover(cluster, name) : undefined;
    cluster.startNode(Number(name.slice('node-'.length)));
    return { node: name, ...(failoverMs === undefined ? {} : { failoverMs }) };
  },

  /** SIGSTOP a region's leader for 8 s (its regions fail over meanwhile), then SIGCONT. */
  async pause({ cluster }) {
    const route = pick(await routes(cluster));
    cluster.signal(route.leader, 'SIGSTOP');
    await sleep(8000);
    cluster.signal(route.leader, 'SIGCONT');
    return { node: route.leader, region: route.regionId };
  },

  /** Moves a region to another node and back (its first node keeps a tombstone meanwhile). */
  async move({ cluster }) {
    const route = pick(await routes(cluster));
    const to = pick(nodeNames(cluster).filter((n) => n !== route.leader));
    const away = await migrate(cluster, route.regionId, to);
    const back = await migrate(cluster, route.regionId, route.leader);
    return { region: route.regionId, from: route.leader, to, away, back };
  },

  /**
   * Splits a region near the middle of its data under the workload, then half the time merges the
   * two halves back (they share a leader right after the split; a merge the balancer got ahead of
   * ends Failed, which is no fault of the cluster). A third of the time the leader is stopped
   * (SIGSTOP, 8 s) right after the split starts, past its 2 s deadline: the metasrv judges it dead,
   * fences it, and goes on or abandons the split while the leader may still be in the middle of it;
   * stopped before it answered for the split key, the split ends Failed at its start, nothing changed.
   */
  async split({ cluster }) {
    const route = pick(await routes(cluster));
    const stopLeader = Math.random() < 1 / 3;
    const what = `the split of ${route.regionId}`;
    const body = { regionId: route.regionId, ...(stopLeader ? { timeoutMs: 2000 } : {}) };
    const id = await startProcedure(cluster, '/admin/split', body, what);
    if (stopLeader) {
      await sleep(Math.random() * 300);
      cluster.signal(route.leader, 'SIGSTOP');
      await sleep(8000);
      cluster.signal(route.leader, 'SIGCONT');
    }
    const split = await procedureEnd(cluster, id, what);
    const child = split.context.childId ?? null;
    const stopped = stopLeader ? { stoppedLeader: route.leader } : {};
    if (split.status !== 'Done' || Math.random() < 0.5)
      return { region: route.regionId, status: split.status, child, ...stopped };
    await sleep(2000);
    const merge = await runProcedure(
      cluster,
      '/admin/merge',
      { regionId: route.regionId, source: child },
      `the merge of ${child} into ${route.regionId}`,
    );
    return { region: route.regionId, status: split.status, child, merge: merge.status, ...stopped };
  },

  /** Stops every process (kill -9 or SIGTERM) and starts them all again on the same data. */
  async 'restart-cluster'({ cluster }) {
    const signal = pick(['SIGKILL', 'SIGTERM']);
    const from = Date.now();
    await cluster.restart(signal);
    await cluster.waitFor(
      async () => (await cluster.routes()).every((r) => r.address),
      'the cluster',
      60_000,
    );
    return { signal, upAfterMs: Date.now() - from };
  },

  /** kill -9 the metasrv and start it again. */
  async 'restart-metasrv'({ cluster, metasrvPort }) {
    await cluster.kill('metasrv-1', 'SIGKILL');
    await sleep(1000);
    cluster.startMetasrv('metasrv-1', metasrvPort);
    await routes(cluster);
    return {};
  },

  /** kill -9 Redis (AOF, appendfsync always) and start it again after 2 s. */
  async 'restart-redis'({ redis }) {
    await redis.kill('SIGKILL');
    await sleep(2000);
    await redis.restart();
    return {};
  },
};

/**
 * The faults of the launcher mode (tools/chaos/launcher.cjs): the cluster runs as `npm start` runs
 * it, so only the launcher as a whole is stopped and started.
 */
const LAUNCHER_FAULTS = {
  /** Ctrl-C, SIGTERM or kill -9 of the launcher (its Redis too, unless kill -9), then npm start again. */
  async 'restart-launcher'({ launcher }) {
    const signal = pick(['SIGINT', 'SIGTERM', 'SIGKILL']);
    const from = Date.now();
    await launcher.stop(signal);
    await launcher.start();
    return { signal, upAfterMs: Date.now() - from };
  },
};

/** Every fault name of a mode (`launcher`: LAUNCHER_FAULTS); `all` in a list means all of them. */
function faultNames(list, { launcher = false } = {}) {
  const faults = launcher ? LAUNCHER_FAULTS : FAULTS;
  const names = list.flatMap((n) => (n === 'all' ? Object.keys(faults) : [n]));
  for (const name of names) {
    if (!faults[name])
      throw new Error(
        `unknown nemesis '${name}'${launcher ? ' in launcher mode' : ''} (known: all, ${Object.keys(faults).join(', ')})`,
      );
  }
  return [...new Set(names)];
}

/**
 * Injects the faults one after another, in rounds (each round every fault once, in random order),
 * with `quietMs` of normal operation between two faults, until `until()` says stop.
 */
async function runNemesis(ctx, names, { quietMs, until, log }) {
  const done = [];
  while (!until()) {
    const round = [...names].sort(() => Math.random() - 0.5);
    for (const name of round) {
      if (until()) break;
      await sleep(quietMs);
      const started = Date.now();
      try {
        const details = await (FAULTS[name] ?? LAUNCHER_FAULTS[name])(ctx);
        done.push({ fault: name, ms: Date.now() - started, ...details });
        log(`nemesis: ${name} ${JSON.stringify(details)}`);
      } catch (err) {
        done.push({ fault: name, ms: Date.now() - started, error: String(err.message ?? err) });
        log(`nemesis: ${name} failed: ${err.message ?? err}`);
      }
    }
  }
  return done;
}

/** Continues every stopped process and starts every dead one again. */
async function heal(cluster, metasrvPort) {
  for (const [name, child] of cluster.processes) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT');
      continue;
    }
    if (name === 'metasrv-1') cluster.startMetasrv(name, metasrvPort);
    else cluster.startNode(Number(name.slice('node-'.length)));
  }
}

module.exports = { FAULTS, LAUNCHER_FAULTS, faultNames, runNemesis, heal };

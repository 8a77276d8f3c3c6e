import { createRequire } from 'node:module';
import { useTempDir } from '@regionstore/testing';

interface ChaosResult {
  ok: boolean;
  counts: { acknowledged: number; reads: number; keys: number };
  lost: number;
  stale: number;
  phantom: number;
  future: number;
  inversion: number;
  unreadable: number;
  faults: Array<{ fault: string; error?: string }>;
  examples: unknown;
}
// The harness is plain CommonJS shared with `npm run chaos`.
const { runChaos } = createRequire(__filename)('../../tools/chaos/run.cjs') as {
  runChaos: (options: object) => Promise<ChaosResult>;
};
const FAULTS = ['kill', 'pause', 'move', 'split', 'restart-cluster', 'restart-metasrv', 'restart-redis'];

const dir = useTempDir('e2e-chaos');

describe('Jepsen-style run (bounded; `npm run chaos` for long runs)', () => {
  it('loses no acknowledged write and serves no stale, phantom or non-linearizable read under every fault', async () => {
    const result = await runChaos({
      dir: dir.sub('run'),
      durationMs: 90_000,
      keys: 120,
      nemesis: ['all'],
      log: (line: string) => process.env.CHAOS_VERBOSE && console.log(line),
    });
    console.log(
      `chaos: ${result.counts.acknowledged} acked writes, ${result.counts.reads} reads, faults ${result.faults
        .map((f) => f.fault)
        .join(' ')}; lost ${result.lost}, stale ${result.stale}, phantom ${result.phantom}`,
    );
    expect({
      lost: result.lost,
      stale: result.stale,
      phantom: result.phantom,
      future: result.future,
      inversion: result.inversion,
      unreadable: result.unreadable,
    }).toEqual({ lost: 0, stale: 0, phantom: 0, future: 0, inversion: 0, unreadable: 0 });
    // the run really ran: every fault was injected, and the clients got work done around them
    expect([...new Set(result.faults.filter((f) => !f.error).map((f) => f.fault))].sort()).toEqual(
      [...FAULTS].sort(),
    );
    expect(result.counts.acknowledged).toBeGreaterThan(500);
    expect(result.counts.keys).toBe(120);
  }, 300_000);

  it('loses no acknowledged write when the whole cluster restarts through the launcher (npm start)', async () => {
    const result = await runChaos({
      dir: dir.sub('launcher'),
      durationMs: 30_000,
      keys: 60,
      launcher: true,
      nemesis: ['all'],
      log: (line: string) => process.env.CHAOS_VERBOSE && console.log(line),
    });
    const anomalies = ['lost', 'stale', 'phantom', 'future', 'inversion', 'unreadable'] as const;
    expect(Object.fromEntries(anomalies.map((a) => [a, result[a]]))).toEqual(
      Object.fromEntries(anomalies.map((a) => [a, 0])),
    );
    const restarts = result.faults.filter((f) => f.fault === 'restart-launcher' && !f.error);
    expect(restarts.length).toBeGreaterThanOrEqual(2);
    expect(result.counts.acknowledged).toBeGreaterThan(200);
  }, 300_000);
});

import { InvalidConfigError } from '@regionstore/core';
import { configOnMasters, redisMasters, type Logger, type RedisClient } from '@regionstore/runtime';

/**
 * What an acknowledged write promises, given where the WAL lives (Redis):
 * - `fsync`: RedisClient's AOF with `appendfsync always`; the write survives a Redis host crash.
 * - `everysec`: AOF with `appendfsync everysec` (or always); a Redis host crash may lose about the last
 *   second of acknowledged writes.
 * - `replicas`: each append waits (Redis WAIT) until `minReplicas` replicas have it; the write survives
 *   losing the primary.
 * - `unsafe`: nothing is checked; a Redis crash may lose any acknowledged write since its last save.
 */
export const WAL_DURABILITY_MODES = ['fsync', 'everysec', 'replicas', 'unsafe'] as const;
export type WalDurability = (typeof WAL_DURABILITY_MODES)[number];

export interface WalDurabilityOptions {
  durability: WalDurability;
  /** Replicas each append waits for in `replicas` mode. */
  minReplicas: number;
  /** How long that wait may take; an append that misses it is not acknowledged. */
  replicaTimeoutMs: number;
  /**
   * `config`: read Redis's settings (CONFIG GET, INFO) at start and refuse a Redis that cannot keep the
   * promise. `skip`: for managed Redis without CONFIG; the operator vouches for the settings.
   */
  configCheck: 'config' | 'skip';
}

export const WAL_PROMISES: Record<WalDurability, string> = {
  fsync: 'an acknowledged write is fsynced to the AOF (appendfsync always): it survives a Redis host crash',
  everysec:
    'an acknowledged write is in the AOF, fsynced within about a second: a Redis host crash may lose the last second',
  replicas: 'an acknowledged write reached minReplicas replicas (WAIT): it survives losing the primary',
  unsafe: "Redis's persistence is not checked: a Redis crash may lose acknowledged writes",
};

export interface DurabilityReport {
  mode: WalDurability;
  /** Redis was seen to keep the mode's promise (never for `unsafe` or an unchecked Redis). */
  verified: boolean;
  promise: string;
  /** The Redis settings that were read. */
  settings: Record<string, string>;
}

/** Replicas an append waits for: only `replicas` mode waits. */
export function walMinReplicas(options: Pick<WalDurabilityOptions, 'durability' | 'minReplicas'>): number {
  return options.durability === 'replicas' ? options.minReplicas : 0;
}

/** The fewest replicas any master has connected. */
async function connectedReplicas(redis: RedisClient): Promise<number> {
  const counts: number[] = [];
  for (const server of redisMasters(redis)) {
    const info = await server.info('replication');
    counts.push(Number(/connected_slaves:(\d+)/.exec(info)?.[1] ?? 0));
  }
  return Math.min(...counts);
}

/**
 * Checks at start that Redis can keep the promise of `options.durability`; throws InvalidConfig naming
 * exactly what to set when it cannot. `unsafe` and `configCheck: skip` pass unverified, with a warning.
 */
export async function checkWalDurability(
  redis: RedisClient,
  options: WalDurabilityOptions,
  logger?: Logger,
): Promise<DurabilityReport> {
  const mode = options.durability;
  const report = (verified: boolean, settings: Record<string, string> = {}): DurabilityReport => ({
    mode,
    verified,
    promise: WAL_PROMISES[mode],
    settings,
  });
  if (mode === 'unsafe') {
    logger?.warn(
      { durability: mode },
      'wal.durability is unsafe: Redis persistence is not checked, a Redis crash may lose acknowledged writes',
    );
    return report(false);
  }
  if (options.configCheck === 'skip') {
    logger?.warn(
      { durability: mode },
      `wal.configCheck is skip: Redis is trusted to keep the '${mode}' promise without checking`,
    );
    return report(false);
  }
  let settings: Record<string, string>;
  try {
    settings =
      mode === 'replicas'
        ? { connectedReplicas: String(await connectedReplicas(redis)) }
        : {
            appendonly: await configOnMasters(redis, 'appendonly'),
            appendfsync: await configOnMasters(redis, 'appendfsync'),
          };
  } catch (err) {
    throw new InvalidConfigError(
      `cannot read Redis's persistence settings (${(err as Error).message}). On a managed Redis without ` +
        `CONFIG, make sure it keeps the '${mode}' promise and set wal.configCheck: skip ` +
        '(REGIONSTORE_WAL__CONFIG_CHECK=skip)',
      { durability: mode },
      { cause: err },
    );
  }
  const problems: string[] = [];
  if (mode === 'replicas') {
    const replicas = Number(settings.connectedReplicas);
    if (replicas < options.minReplicas) {
      problems.push(
        `${replicas} replica(s) connected, wal.minReplicas is ${options.minReplicas} (attach replicas with REPLICAOF, or lower wal.minReplicas)`,
      );
    }
  } else {
    if (settings.appendonly !== 'yes')
      problems.push(`appendonly is '${settings.appendonly}', set appendonly yes`);
    const fsyncs = mode === 'fsync' ? ['always'] : ['always', 'everysec'];
    if (!fsyncs.includes(settings.appendfsync ?? '')) {
      problems.push(`appendfsync is '${settings.appendfsync}', set appendfsync ${fsyncs.join(' or ')}`);
    }
  }
  if (problems.length > 0) {
    throw new InvalidConfigError(
      `Redis cannot give wal.durability '${mode}' (${WAL_PROMISES[mode]}): ${problems.join('; ')}. ` +
        'Change Redis (redis.conf, or CONFIG SET then CONFIG REWRITE), choose another wal.durability, ' +
        'or run with wal.durability: unsafe (REGIONSTORE_WAL__DURABILITY=unsafe)',
      { durability: mode, ...settings },
    );
  }
  logger?.info({ durability: mode, ...settings }, `WAL durability: ${WAL_PROMISES[mode]}`);
  return report(true, settings);
}

/**
 * A cluster-wide key: metadata, leases, leader election, procedures, maintenance mode. They all carry
 * the hash tag `{prefix}`, so on Redis Cluster they live in one slot and every script and transaction
 * over them is single-slot. The BullMQ queues use the same tag (`QueueNames.bullmqPrefix`); WAL keys
 * carry their region's tag instead (log-store), which spreads regions over the cluster's masters.
 */
export function clusterKey(prefix: string, ...parts: string[]): string {
  return [`{${prefix}}`, ...parts].join(':');
}

/** The cluster's identity record (runtime's ClusterRecord), written once at bootstrap. */
export function clusterRecordKey(prefix: string): string {
  return clusterKey(prefix, 'meta', 'cluster');
}

/** The cluster GC safepoint (a 20-digit zero-padded decimal ts, so Lua compares it as a string). */
export function gcSafePointKey(prefix: string): string {
  return clusterKey(prefix, 'meta', 'gc', 'safepoint');
}

/** Service safepoints: a hash of service id → `<20-digit ts>:<expires at, ms since the epoch>`. */
export function serviceSafePointsKey(prefix: string): string {
  return clusterKey(prefix, 'meta', 'gc', 'services');
}

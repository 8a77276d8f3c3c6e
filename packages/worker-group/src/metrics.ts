import { counter, gauge, histogram, type Registry } from '@regionstore/runtime';

/**
 * `safePointAge`: seconds since the GC safepoint this node knows (undefined: none heard yet);
 * `followerLag`: entries the furthest-behind follower region lacks.
 */
export function workerGroupMetrics(
  registry: Registry,
  safePointAge: () => number | undefined = () => undefined,
  followerLag: () => number = () => 0,
) {
  return {
    regionCount: gauge<'worker'>(registry, {
      component: 'worker_group',
      what: 'regions',
      help: 'Regions open per worker',
      labelNames: ['worker'],
    }),
    writeStalls: counter<'worker'>(registry, {
      component: 'worker_group',
      what: 'write_stall',
      unit: 'total',
      help: 'Writes held back because the write buffer was full',
      labelNames: ['worker'],
    }),
    stalledRequests: gauge<'worker'>(registry, {
      component: 'worker_group',
      what: 'stalled_requests',
      help: 'Writes currently held back',
      labelNames: ['worker'],
    }),
    rejectedWrites: counter(registry, {
      component: 'worker_group',
      what: 'rejected_writes',
      unit: 'total',
      help: 'Writes refused with WriteBufferFull',
    }),
    repeatedWrites: counter(registry, {
      component: 'worker_group',
      what: 'repeated_writes',
      unit: 'total',
      help: 'Re-sent writes answered from the first attempt, which had landed, instead of applied again',
    }),
    writeBufferBytes: gauge(registry, {
      component: 'worker_group',
      what: 'write_buffer',
      unit: 'bytes',
      help: 'Bytes written since their regions were last flushed',
    }),
    walRegressions: counter<'region'>(registry, {
      component: 'worker_group',
      what: 'wal_regressions',
      unit: 'total',
      help: 'Opens refused because the region WAL ends before an entry already flushed or applied',
      labelNames: ['region'],
    }),
    flushBytes: counter<'kind'>(registry, {
      component: 'worker_group',
      what: 'flush_written_bytes',
      unit: 'total',
      help: 'Bytes flushes wrote to the object store: kind snapshot (a full flush, the compaction) or delta',
      labelNames: ['kind'],
    }),
    gcVersions: counter(registry, {
      component: 'worker_group',
      what: 'gc_collected_versions',
      unit: 'total',
      help: 'MVCC versions GC deleted (older than the newest one at or below the GC safepoint)',
    }),
    gcBytes: counter(registry, {
      component: 'worker_group',
      what: 'gc_reclaimed_bytes',
      unit: 'total',
      help: 'Key and value bytes of the versions GC deleted',
    }),
    gcSafePointAge: gauge(registry, {
      component: 'worker_group',
      what: 'gc_safepoint_age',
      unit: 'seconds',
      help: 'Age of the cluster GC safepoint this node collects below',
      collect: (g) => {
        const age = safePointAge();
        if (age !== undefined) g.set(age);
      },
    }),
    followerAppliedEntries: counter(registry, {
      component: 'worker_group',
      what: 'follower_applied_entries',
      unit: 'total',
      help: 'WAL entries followers applied from their leaders',
    }),
    followerReloads: counter(registry, {
      component: 'worker_group',
      what: 'follower_reloads',
      unit: 'total',
      help: 'Followers that reloaded from the latest flush (they fell behind a WAL trim, or the WAL was rebuilt)',
    }),
    deltaCatchups: counter(registry, {
      component: 'worker_group',
      what: 'delta_catchups',
      unit: 'total',
      help: 'Copies of a region brought past a WAL trim by the newer delta files of its flush manifest, instead of a full load',
    }),
    walRetries: counter(registry, {
      component: 'worker_group',
      what: 'recover_retries',
      unit: 'total',
      help: 'Region loads that found the WAL trimmed past them once loaded (the leader flushed meanwhile) and went on from the newer flush',
    }),
    followerLag: gauge(registry, {
      component: 'worker_group',
      what: 'follower_lag_entries',
      help: 'WAL entries the furthest-behind follower of this node has yet to apply',
      collect: (g) => g.set(followerLag()),
    }),
    jobDuration: histogram<'job' | 'outcome'>(registry, {
      component: 'worker_group',
      what: 'job_duration',
      unit: 'seconds',
      help: 'Flush and compaction durations',
      labelNames: ['job', 'outcome'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300],
    }),
  };
}

export type WorkerGroupMetrics = ReturnType<typeof workerGroupMetrics>;

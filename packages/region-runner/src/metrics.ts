import { counter, gauge, histogram, type Registry } from '@regionstore/runtime';

export type SnapshotTaskKind = 'generate' | 'apply';
/** Outcomes as TiKV counts them; `all` grows on every attempt, `delay` when an apply must wait. */
export type SnapshotOutcome = 'all' | 'success' | 'fail' | 'abort' | 'delay';

export function regionRunnerMetrics(registry: Registry) {
  return {
    snapshots: counter<'task' | 'outcome'>(registry, {
      component: 'region_runner',
      what: 'snapshot',
      unit: 'total',
      help: 'Snapshot generations and applies by outcome',
      labelNames: ['task', 'outcome'],
    }),
    durations: histogram<'task'>(registry, {
      component: 'region_runner',
      what: 'snapshot_duration',
      unit: 'seconds',
      help: 'Time to generate or apply one region snapshot',
      labelNames: ['task'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
    }),
    pendingDeleteRanges: gauge(registry, {
      component: 'region_runner',
      what: 'pending_delete_ranges',
      help: 'Ranges of destroyed regions waiting to be deleted',
    }),
    overlapWithoutDeleteFiles: counter(registry, {
      component: 'region_runner',
      what: 'overlap_not_delete_files',
      unit: 'total',
      help: 'Overlapping pending ranges deleted without dropping files because a snapshot still read them',
    }),
  };
}

export type RegionRunnerMetrics = ReturnType<typeof regionRunnerMetrics>;

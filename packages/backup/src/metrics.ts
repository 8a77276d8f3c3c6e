import { counter, gauge, histogram, type Registry } from '@regionstore/runtime';

export function backupMetrics(registry: Registry) {
  return {
    rangeSeconds: histogram<'phase'>(registry, {
      component: 'backup',
      what: 'range_duration',
      unit: 'seconds',
      help: 'Time per backed-up range, by phase (snapshot, scan, raw_scan)',
      labelNames: ['phase'],
      buckets: [0.001, 0.01, 0.1, 0.5, 1, 5, 30, 120, 600],
    }),
    poolSize: gauge(registry, {
      component: 'backup',
      what: 'pool_size',
      help: 'Workers the backup pool may run at once',
    }),
    bytes: counter(registry, {
      component: 'backup',
      what: 'written',
      unit: 'bytes',
      help: 'Bytes of backup files written to storage',
    }),
    kvs: counter(registry, {
      component: 'backup',
      what: 'written_kvs',
      unit: 'total',
      help: 'Key/value pairs written to backup files',
    }),
  };
}

export type BackupMetrics = ReturnType<typeof backupMetrics>;

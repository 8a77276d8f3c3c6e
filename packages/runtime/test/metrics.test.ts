import { InvalidArgumentError } from '@regionstore/core';
import { counter, createMetricsRegistry, gauge, histogram, metricName } from '@regionstore/runtime';

describe('metrics', () => {
  it('builds regionstore_<component>_<what>_<unit> names and rejects others', () => {
    expect(metricName('region_runner', 'snapshot_generate', 'total')).toBe(
      'regionstore_region_runner_snapshot_generate_total',
    );
    expect(() => metricName('Region', 'x', 'total')).toThrow(InvalidArgumentError);
    expect(() => metricName('backup', 'range-size', 'bytes')).toThrow(InvalidArgumentError);
    expect(() => metricName('backup', 'range', 'furlongs' as never)).toThrow(/unit/);
    expect(() => metricName('worker', 'regions', 'count' as never)).toThrow(/unit/);
  });

  it('registers metrics once per registry and exposes default process metrics', async () => {
    const registry = createMetricsRegistry({ labels: { nodeId: 'n1' } });
    const a = counter(registry, {
      component: 'backup',
      what: 'ranges',
      unit: 'total',
      help: 'ranges',
      labelNames: ['outcome'],
    });
    const b = counter(registry, {
      component: 'backup',
      what: 'ranges',
      unit: 'total',
      help: 'ranges',
      labelNames: ['outcome'],
    });
    expect(a).toBe(b);
    a.inc({ outcome: 'ok' }, 2);
    gauge(registry, { component: 'worker', what: 'regions', help: 'regions' }).set(3);
    counter(registry, { component: 'backup', what: 'written', unit: 'bytes', help: 'b' }).inc(5);
    histogram(registry, {
      component: 'backup',
      what: 'range_duration',
      unit: 'seconds',
      help: 'd',
      buckets: [0.1, 1],
    }).observe(0.5);
    const text = await registry.metrics();
    expect(text).toContain('regionstore_backup_ranges_total{outcome="ok",nodeId="n1"} 2');
    expect(text).toContain('regionstore_worker_regions{nodeId="n1"} 3'); // a count has no unit
    expect(text).toContain('regionstore_backup_written_bytes_total{nodeId="n1"} 5'); // counters end in _total
    expect(text).toContain('regionstore_backup_range_duration_seconds_bucket{le="1",nodeId="n1"} 1');
    expect(text).toContain('process_cpu_seconds_total');
  });

  it('asks a collected gauge for its values each time the registry is read', async () => {
    const registry = createMetricsRegistry({ defaultMetrics: false });
    let reads = 0;
    gauge(registry, {
      component: 'engine',
      what: 'memory',
      unit: 'bytes',
      help: 'x',
      labelNames: ['kind'],
      collect: async (g) => {
        reads++;
        g.set({ kind: 'memtables' }, reads * 100);
      },
    });
    expect(await registry.metrics()).toContain('regionstore_engine_memory_bytes{kind="memtables"} 100');
    expect(await registry.metrics()).toContain('regionstore_engine_memory_bytes{kind="memtables"} 200');
  });

  it('keeps registries apart', async () => {
    const one = createMetricsRegistry({ defaultMetrics: false });
    const two = createMetricsRegistry({ defaultMetrics: false });
    counter(one, { component: 'a', what: 'b', unit: 'total', help: 'x' }).inc();
    expect(await two.metrics()).not.toContain('regionstore_a_b_total');
  });
});

import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type CounterConfiguration,
  type GaugeConfiguration,
  type HistogramConfiguration,
  type Metric,
} from 'prom-client';
import { InvalidArgumentError } from '@regionstore/core';

export { Registry } from 'prom-client';
export type { Counter, Gauge, Histogram } from 'prom-client';

export const METRIC_PREFIX = 'regionstore';

/**
 * Units a metric name may end with (Prometheus base units, plus plain totals). A count of things has
 * no unit (`..._regions`, not `..._regions_count`: `_count` is a histogram's series, and promtool says
 * so); a counter always ends in `_total`.
 */
export const METRIC_UNITS = ['seconds', 'bytes', 'total', 'ratio', 'info', 'keys', 'entries'] as const;
export type MetricUnit = (typeof METRIC_UNITS)[number];

const SNAKE = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/;

/** `regionstore_<component>_<what>[_<unit>]`; every part lower snake case. */
export function metricName(component: string, what: string, unit?: MetricUnit): string {
  for (const [label, part] of [
    ['component', component],
    ['what', what],
  ] as const) {
    if (!SNAKE.test(part)) {
      throw new InvalidArgumentError(`metric ${label} '${part}' must be lower snake case`, { [label]: part });
    }
  }
  if (unit !== undefined && !METRIC_UNITS.includes(unit)) {
    throw new InvalidArgumentError(`metric unit '${unit}' is not one of ${METRIC_UNITS.join(', ')}`, {
      unit,
    });
  }
  return [METRIC_PREFIX, component, what, ...(unit ? [unit] : [])].join('_');
}

/** One registry per process; default process metrics are collected unless turned off. */
export function createMetricsRegistry(
  options: { defaultMetrics?: boolean; labels?: Record<string, string> } = {},
): Registry {
  const registry = new Registry();
  if (options.labels) registry.setDefaultLabels(options.labels);
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  return registry;
}

interface MetricSpec<L extends string> {
  component: string;
  what: string;
  /** None for a plain count of things (a gauge of regions, say). */
  unit?: MetricUnit;
  help: string;
  labelNames?: readonly L[];
}

function getOrCreate<M extends Metric>(registry: Registry, name: string, create: () => M): M {
  // Components may be built several times in one process (tests, embedding); they share the series.
  return (registry.getSingleMetric(name) as M | undefined) ?? create();
}

export function counter<L extends string = string>(registry: Registry, spec: MetricSpec<L>): Counter<L> {
  const base = metricName(spec.component, spec.what, spec.unit);
  const name = spec.unit === 'total' ? base : `${base}_total`;
  const config: CounterConfiguration<L> = {
    name,
    help: spec.help,
    labelNames: spec.labelNames ?? [],
    registers: [registry],
  };
  return getOrCreate(registry, name, () => new Counter(config));
}

export function gauge<L extends string = string>(
  registry: Registry,
  spec: MetricSpec<L> & {
    /** Sets the values when the registry is read (for figures that are cheaper to ask than to track). */
    collect?: (gauge: Gauge<L>) => void | Promise<void>;
  },
): Gauge<L> {
  const name = metricName(spec.component, spec.what, spec.unit);
  const collect = spec.collect;
  const config: GaugeConfiguration<L> = {
    name,
    help: spec.help,
    labelNames: spec.labelNames ?? [],
    registers: [registry],
    ...(collect
      ? {
          collect(this: Gauge<L>) {
            return collect(this);
          },
        }
      : {}),
  };
  return getOrCreate(registry, name, () => new Gauge(config));
}

export function histogram<L extends string = string>(
  registry: Registry,
  spec: MetricSpec<L> & { buckets?: number[] },
): Histogram<L> {
  const name = metricName(spec.component, spec.what, spec.unit);
  const config: HistogramConfiguration<L> = {
    name,
    help: spec.help,
    labelNames: spec.labelNames ?? [],
    registers: [registry],
    ...(spec.buckets ? { buckets: spec.buckets } : {}),
  };
  return getOrCreate(registry, name, () => new Histogram(config));
}

/**
 * Logs and metrics shared by every part of the toolkit: pino for structured JSON logs,
 * prom-client for Prometheus metrics. Each part takes an optional logger and registry;
 * without them it logs to stdout at `LOG_LEVEL` (default `info`) and registers its
 * metrics in a registry of its own.
 */
import { pino, type Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry, type CounterConfiguration, type GaugeConfiguration, type HistogramConfiguration } from 'prom-client';

export type { Logger } from 'pino';
export { Registry } from 'prom-client';

/** The default logger: JSON lines on stdout, level from `LOG_LEVEL`. */
export function defaultLogger(name: string): Logger {
  return pino({ name, level: process.env['LOG_LEVEL'] ?? 'info' });
}

/**
 * One metric per name and registry: several databases, caches or sagas in one process
 * share a registry and tell themselves apart by labels, and registering the same name
 * twice would throw.
 */
export function counter<L extends string>(registry: Registry, config: CounterConfiguration<L>): Counter<L> {
  return (registry.getSingleMetric(config.name) as Counter<L> | undefined) ?? new Counter({ ...config, registers: [registry] });
}

export function gauge<L extends string>(registry: Registry, config: GaugeConfiguration<L>): Gauge<L> {
  return (registry.getSingleMetric(config.name) as Gauge<L> | undefined) ?? new Gauge({ ...config, registers: [registry] });
}

export function histogram<L extends string>(registry: Registry, config: HistogramConfiguration<L>): Histogram<L> {
  return (registry.getSingleMetric(config.name) as Histogram<L> | undefined) ?? new Histogram({ ...config, registers: [registry] });
}

/** A promise that resolves after `ms` (never keeps the process alive on its own). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', done);
      clearTimeout(timer);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

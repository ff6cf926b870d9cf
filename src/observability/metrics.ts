import { readFileSync } from 'node:fs';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { PROMETHEUS_EDGE_INDEX, PROMETHEUS_EDGES_S, BUCKETS } from './histogram.js';
import type { HostSampler } from './host.js';
import { CACHE_RESULTS, EJECTION_REASONS, ERROR_CODE_LIST, METHODS, STATUS_CLASSES, type RequestRecorder, type TargetRec } from './recorder.js';
import type { WindowSeries } from './window.js';
import type { Runtime } from '../gateway/runtime.js';

/**
 * `/metrics`: the gateway's Prometheus exposition, through prom-client with a registry of
 * its own (never the global default, so several gateways in one process — tests — do not
 * mix).
 *
 * Request metrics are not prom-client Counters and Histograms: their `inc`/`observe`
 * hash the label object on every call, which is what the hot path must not do. The
 * recorder keeps plain numbers on records resolved once per config version, and each
 * family here is a prom-client metric object whose `get()` folds them into samples when
 * Prometheus scrapes. The rest (health, breakers, host) is read from the runtime at the
 * same moment. prom-client's default metrics (process CPU, memory, heap, GC, handles)
 * go into the same registry, prefixed `brisk_`.
 */

/** What the families read, besides the recorder. */
export interface MetricsSources {
  readonly recorder: RequestRecorder;
  readonly host: HostSampler;
  runtime(): Runtime;
  openConnections(): number;
  shedLevel(): number;
  /** p99 event-loop lag over the last second, ms. */
  eventLoopLagMs(): number;
  /** Process CPU over the last second, share of one core (0..n). */
  processCpuRatio(): number;
  readonly reloads: { success: number; failure: number; lastSuccessAt: number };
}

type Labels = Record<string, string | number>;
interface Sample {
  value: number;
  labels: Labels;
  metricName?: string;
}
type MetricType = 'counter' | 'gauge' | 'histogram';

/** A metric object prom-client's Registry accepts, filled at scrape time. */
class Family {
  readonly aggregator = 'sum' as const;
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricType,
    private readonly fill: (out: Sample[]) => void,
  ) {}

  get(): { name: string; help: string; type: MetricType; values: Sample[]; aggregator: 'sum' } {
    const values: Sample[] = [];
    this.fill(values);
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {}
}

/** Brisk's version, from package.json (read once). */
export const BRISK_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
})();

/** Builds the registry with every Brisk family and prom-client's default metrics. */
export function createMetricsRegistry(src: MetricsSources): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'brisk_' });
  // Gauges named `_total` fail `promtool check metrics`; the per-type gauges they sum stay.
  for (const name of ['brisk_nodejs_active_handles_total', 'brisk_nodejs_active_requests_total', 'brisk_nodejs_active_resources_total']) registry.removeSingleMetric(name);
  const rec = src.recorder;
  const add = (name: string, help: string, type: MetricType, fill: (out: Sample[]) => void): void => {
    registry.registerMetric(new Family(name, help, type, fill) as unknown as Parameters<Registry['registerMetric']>[0]);
  };
  const routes = () => [...rec.routes.values(), rec.noRoute];

  // ---- requests ---------------------------------------------------------------------
  add('brisk_requests_total', 'Requests answered, by route, upstream, target and status class (499: the client left).', 'counter', (out) => {
    const live = liveTargets(src);
    for (const rr of routes()) {
      for (const [tr, counts] of rr.byTarget) {
        if (!live.has(tr)) continue;
        for (let c = 0; c < STATUS_CLASSES.length; c++) {
          const v = counts[c]!;
          if (v > 0) out.push({ value: v, labels: { route: rr.name, upstream: tr.upstream, target: tr.label, status_class: STATUS_CLASSES[c]! } });
        }
      }
    }
  });
  add('brisk_requests_by_method_total', 'Requests by route and method (methods outside the standard set count as OTHER).', 'counter', (out) => {
    for (const rr of routes()) for (let m = 0; m < METHODS.length; m++) if (rr.methods[m]! > 0) out.push({ value: rr.methods[m]!, labels: { route: rr.name, method: METHODS[m]! } });
  });
  add('brisk_request_duration_seconds', 'Time from the request reaching the gateway to the end of its answer, by route.', 'histogram', (out) => {
    for (const rr of routes()) if (rr.series.requests > 0) histogram(out, 'brisk_request_duration_seconds', rr.series, { route: rr.name });
  });
  add('brisk_target_request_duration_seconds', 'Time from the request reaching the gateway to the end of its answer, by the target that answered (target "(none)": answered before a target was tried).', 'histogram', (out) => {
    for (const tr of liveTargets(src)) if (tr.series.requests > 0) histogram(out, 'brisk_target_request_duration_seconds', tr.series, { upstream: tr.upstream, target: tr.label });
  });
  add('brisk_requests_in_flight', 'Requests being answered now (WebSocket and other tunnels are not counted).', 'gauge', (out) => {
    out.push({ value: Math.max(0, rec.inFlight), labels: {} });
  });
  add('brisk_request_body_bytes_total', 'Request body bytes received, by route (bodies with a Content-Length; chunked uploads are not counted).', 'counter', (out) => {
    for (const rr of routes()) if (rr.series.requests > 0) out.push({ value: rr.bytesIn, labels: { route: rr.name } });
  });
  add('brisk_response_body_bytes_total', 'Response body bytes sent from targets to clients, by route.', 'counter', (out) => {
    for (const rr of routes()) if (rr.series.requests > 0) out.push({ value: rr.bytesOut, labels: { route: rr.name } });
  });
  add('brisk_request_errors_total', 'Requests the gateway answered with one of its error codes (refusals such as BRISK_RATE_LIMITED, BRISK_SHED, BRISK_CIRCUIT_OPEN, and upstream failures), by route and code.', 'counter', (out) => {
    for (const rr of routes()) for (let c = 0; c < ERROR_CODE_LIST.length; c++) if (rr.codes[c]! > 0) out.push({ value: rr.codes[c]!, labels: { route: rr.name, code: ERROR_CODE_LIST[c]! } });
  });
  add('brisk_cache_requests_total', 'Response-cache results by route (hit, miss, stale, revalidated, bypass, other).', 'counter', (out) => {
    for (const rr of routes()) for (let c = 0; c < CACHE_RESULTS.length; c++) if (rr.cache[c]! > 0) out.push({ value: rr.cache[c]!, labels: { route: rr.name, result: CACHE_RESULTS[c]! } });
  });
  add('brisk_rate_limit_store_errors_total', 'Rate-limit decisions the store (Redis) could not make, by route (the counter restarts when the route\'s rate limit is rebuilt by a reload).', 'counter', (out) => {
    const rt = src.runtime();
    for (const r of rt.config.routes) {
      for (const m of rt.pipelineOfRoute[r.index] ?? []) {
        const stats = (m as { stats?: () => unknown }).stats;
        if (m.name !== 'rate-limit' || typeof stats !== 'function') continue;
        const errors = (stats.call(m) as { storeErrors?: number }).storeErrors;
        if (typeof errors === 'number') out.push({ value: errors, labels: { route: r.name } });
      }
    }
  });

  // ---- upstreams and targets --------------------------------------------------------
  add('brisk_upstream_retries_total', 'Retries sent, by upstream.', 'counter', (out) => {
    for (const ur of rec.upstreams.values()) out.push({ value: ur.retries, labels: { upstream: ur.name } });
  });
  add('brisk_upstream_hedges_total', 'Requests that sent a hedged (parallel) try, by upstream.', 'counter', (out) => {
    for (const ur of rec.upstreams.values()) out.push({ value: ur.hedges, labels: { upstream: ur.name } });
  });
  add('brisk_upstream_breaker_state', 'Circuit breaker state by upstream: 1 for the current state (closed, open, half-open), 0 for the others. Upstreams without a breaker have no series.', 'gauge', (out) => {
    for (const u of src.runtime().upstreams.values()) {
      const b = u.breaker;
      if (b === null) continue;
      const state = b.state;
      for (const s of ['closed', 'open', 'half-open'] as const) out.push({ value: state === s ? 1 : 0, labels: { upstream: u.name, state: s } });
    }
  });
  add('brisk_upstream_panic', '1 while the upstream is in panic mode (too few available targets: traffic spreads over all of them).', 'gauge', (out) => {
    for (const u of src.runtime().upstreams.values()) out.push({ value: u.panic ? 1 : 0, labels: { upstream: u.name } });
  });
  add('brisk_upstream_targets', 'Targets configured, by upstream.', 'gauge', (out) => {
    for (const u of src.runtime().upstreams.values()) out.push({ value: u.targets.length, labels: { upstream: u.name } });
  });
  add('brisk_upstream_available_targets', 'Targets taking traffic (healthy and not ejected), by upstream.', 'gauge', (out) => {
    for (const u of src.runtime().upstreams.values()) out.push({ value: u.availableCount, labels: { upstream: u.name } });
  });
  add('brisk_target_healthy', '1 when the target takes traffic (passes its health checks and is not ejected), else 0.', 'gauge', (out) => {
    for (const u of src.runtime().upstreams.values()) for (const t of u.targets) out.push({ value: t.available ? 1 : 0, labels: { upstream: u.name, target: t.origin + t.basePath } });
  });
  add('brisk_target_state', 'The target\'s health state: 1 for the current one (healthy, unhealthy, ejected, warming), 0 for the others.', 'gauge', (out) => {
    for (const u of src.runtime().upstreams.values()) {
      for (const t of u.targets) {
        const state = targetHealth(t);
        for (const s of TARGET_STATES) out.push({ value: s === state ? 1 : 0, labels: { upstream: u.name, target: t.origin + t.basePath, state: s } });
      }
    }
  });
  add('brisk_target_ejections_total', 'Outlier ejections by target and rule (consecutive_5xx, consecutive_gateway_failures, failure_rate).', 'counter', (out) => {
    for (const tr of rec.targets.values()) {
      for (let r = 0; r < EJECTION_REASONS.length; r++) {
        const v = tr.ejections[r]!;
        // The three rules always (a zero says "watched, never ejected"); `other` only once seen.
        if (v > 0 || r < 3) out.push({ value: v, labels: { upstream: tr.upstream, target: tr.label, reason: EJECTION_REASONS[r]! } });
      }
    }
  });
  add('brisk_target_requests_in_flight', 'Tries sent to the target and not finished.', 'gauge', (out) => {
    for (const u of src.runtime().upstreams.values()) for (const t of u.targets) out.push({ value: t.inFlight, labels: { upstream: u.name, target: t.origin + t.basePath } });
  });
  add('brisk_target_latency_ewma_seconds', 'The balancer\'s latency estimate of the target (peak EWMA of response-header latency).', 'gauge', (out) => {
    for (const u of src.runtime().upstreams.values()) for (const t of u.targets) out.push({ value: t.ewmaMs / 1000, labels: { upstream: u.name, target: t.origin + t.basePath } });
  });

  // ---- gateway and process ----------------------------------------------------------
  add('brisk_open_connections', 'Client connections open now (HTTP/1 sockets and HTTP/2 sessions).', 'gauge', (out) => {
    out.push({ value: src.openConnections(), labels: {} });
  });
  add('brisk_shed_level', 'The gateway-wide load-shedding level (0: none, 1: low, 2: low+normal, 3: all).', 'gauge', (out) => {
    out.push({ value: src.shedLevel(), labels: {} });
  });
  add('brisk_event_loop_lag_seconds', 'Event-loop lag, p99 over the last second.', 'gauge', (out) => {
    out.push({ value: src.eventLoopLagMs() / 1000, labels: {} });
  });
  add('brisk_process_cpu_usage_ratio', 'CPU used by the gateway process over the last second, as a share of one core.', 'gauge', (out) => {
    out.push({ value: src.processCpuRatio(), labels: {} });
  });
  add('brisk_config_version', 'The config version in force (1 at start, +1 per successful reload).', 'gauge', (out) => {
    out.push({ value: src.runtime().version, labels: {} });
  });
  add('brisk_config_reloads_total', 'Reloads by result (success, failure).', 'counter', (out) => {
    out.push({ value: src.reloads.success, labels: { result: 'success' } }, { value: src.reloads.failure, labels: { result: 'failure' } });
  });
  add('brisk_config_last_reload_success_timestamp_seconds', 'When the config in force was loaded (start or last successful reload), Unix seconds.', 'gauge', (out) => {
    out.push({ value: src.reloads.lastSuccessAt / 1000, labels: {} });
  });
  add('brisk_build_info', 'Always 1; the labels say which Brisk and Node.js are running.', 'gauge', (out) => {
    out.push({ value: 1, labels: { version: BRISK_VERSION, nodejs: process.versions.node } });
  });

  // ---- host --------------------------------------------------------------------------
  const host = src.host;
  add('brisk_host_cpu_usage_ratio', 'Share of all the host\'s cores busy over the last second (0..1).', 'gauge', (out) => {
    out.push({ value: host.cpuRatio, labels: {} });
  });
  add('brisk_host_cpu_seconds_total', 'CPU seconds of the host since boot, all cores, by mode (Linux).', 'counter', (out) => {
    for (const [mode, v] of host.cpuSeconds) out.push({ value: v, labels: { mode } });
  });
  add('brisk_host_memory_total_bytes', 'Memory of the host.', 'gauge', (out) => {
    out.push({ value: host.memTotalBytes, labels: {} });
  });
  add('brisk_host_memory_available_bytes', 'Memory available to new work without swapping (MemAvailable).', 'gauge', (out) => {
    out.push({ value: host.memAvailableBytes, labels: {} });
  });
  add('brisk_host_disk_total_bytes', 'Size of the file system holding the gateway\'s working directory.', 'gauge', (out) => {
    out.push({ value: host.diskTotalBytes, labels: {} });
  });
  add('brisk_host_disk_free_bytes', 'Bytes an unprivileged process can still write on that file system.', 'gauge', (out) => {
    out.push({ value: host.diskFreeBytes, labels: {} });
  });
  add('brisk_host_network_receive_bytes_total', 'Bytes received by the host since boot, by interface (lo included; Linux).', 'counter', (out) => {
    for (const [device, v] of host.netRx) out.push({ value: v, labels: { device } });
  });
  add('brisk_host_network_transmit_bytes_total', 'Bytes sent by the host since boot, by interface (lo included; Linux).', 'counter', (out) => {
    for (const [device, v] of host.netTx) out.push({ value: v, labels: { device } });
  });
  add('brisk_host_load1', 'The host\'s one-minute load average.', 'gauge', (out) => {
    out.push({ value: host.load1, labels: {} });
  });
  return registry;
}

export const TARGET_STATES = ['healthy', 'unhealthy', 'ejected', 'warming'] as const;
export type TargetState = (typeof TARGET_STATES)[number];

/** The health a watcher shows: ejected wins, then a target still waiting for its first probe. */
export function targetHealth(t: { ejection: unknown; activeHealthy: boolean; activeReason: string | null }): TargetState {
  if (t.ejection !== null) return 'ejected';
  if (!t.activeHealthy) return t.activeReason === 'not probed yet' ? 'warming' : 'unhealthy';
  return 'healthy';
}

function liveTargets(src: MetricsSources): Set<TargetRec> {
  const rec = src.recorder;
  const live = new Set<TargetRec>(rec.targets.values());
  for (const ur of rec.upstreams.values()) live.add(ur.none);
  live.add(rec.noUpstream.none);
  return live;
}

function histogram(out: Sample[], name: string, s: WindowSeries, labels: Labels): void {
  const b = s.buckets;
  let cum = 0;
  let i = 0;
  for (let e = 0; e < PROMETHEUS_EDGES_S.length; e++) {
    const upTo = PROMETHEUS_EDGE_INDEX[e]!;
    for (; i <= upTo; i++) cum += b[i]!;
    out.push({ metricName: `${name}_bucket`, value: cum, labels: { ...labels, le: PROMETHEUS_EDGES_S[e]! } });
  }
  for (; i < BUCKETS; i++) cum += b[i]!;
  out.push({ metricName: `${name}_bucket`, value: cum, labels: { ...labels, le: '+Inf' } });
  out.push({ metricName: `${name}_sum`, value: s.sumMs / 1000, labels });
  out.push({ metricName: `${name}_count`, value: s.requests, labels });
}

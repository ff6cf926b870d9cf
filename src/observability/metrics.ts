import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { PROMETHEUS_EDGE_INDEX, PROMETHEUS_EDGES_S, BUCKETS } from './histogram.js';
import type { HostSampler } from './host.js';
import { CACHE_RESULTS, EJECTION_REASONS, ERROR_CODE_LIST, METHODS, STATUS_CLASSES, type RequestRecorder, type TargetRec } from './recorder.js';
import type { WindowSeries } from './window.js';
import { labelString } from './labels.js';
import { grpcStatusLabel } from './grpc-metrics.js';
import type { RuntimeView as Runtime, TargetView as Target } from '../core/views.js';
import { RESTART_REASONS, type ConfigRevisionSnapshot, type DiscoverySnapshot, type InstanceState, type ServiceSnapshot } from './snapshot.js';

/**
 * `/metrics`: the gateway's Prometheus text exposition.
 *
 * Request metrics are not prom-client Counters and Histograms: their `inc`/`observe`
 * hash the label object on every call, which is what the hot path must not do. The
 * recorder keeps plain numbers on records resolved once per config version; at scrape
 * time each family below folds them into text. The families are written here rather
 * than handed to prom-client's Registry as metric objects because its formatter builds
 * and escapes a label object per sample: measured with 300 targets (15 000 samples), it
 * took ~300 ms of event loop per scrape against ~20 ms to write the same text with label
 * strings escaped once per record. prom-client still does what it does well: the
 * default process metrics (CPU, memory, heap, GC, handles), in a registry of its own
 * (never the global default, so several gateways in one process do not mix), prefixed
 * `brisk_` and appended to the same answer.
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
  /** The services Brisk runs (the supervisor); absent or empty when it runs none. */
  services?(): readonly ServiceSnapshot[];
  /** The discovery of upstreams; absent or empty when no upstream has any. */
  discovery?(): readonly DiscoverySnapshot[];
  /** The config store's revision in force; absent or null without `configStore`. */
  configRevision?(): ConfigRevisionSnapshot | null;
  /** The node's process families made of this process's (with workers: every process's, labelled); absent: this process's. */
  processMetrics?(own: string): string;
}

type MetricType = 'counter' | 'gauge' | 'histogram';

/** Collects exposition lines. `labels` is an already escaped `a="x",b="y"` list ('' for none). */
export class Writer {
  private readonly parts: string[] = [];

  sample(name: string, labels: string, value: number): void {
    this.parts.push(labels === '' ? `${name} ${num(value)}\n` : `${name}{${labels}} ${num(value)}\n`);
  }

  raw(text: string): void {
    this.parts.push(text);
  }

  text(): string {
    return this.parts.join('');
  }
}

interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly fill: (w: Writer) => void;
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
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

/** The exposition of one gateway: Brisk's families, then prom-client's default metrics. */
export interface MetricsExposition {
  text(): Promise<string>;
}

/**
 * This process's `brisk_process_*` and `brisk_nodejs_*` families (prom-client's default
 * metrics). prom-client (and what it pulls in) is loaded when this is first called (the
 * first scrape), not at start.
 */
export function processFamilies(): MetricsExposition {
  const { collectDefaultMetrics, Registry } = createRequire(import.meta.url)('prom-client') as typeof import('prom-client');
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'brisk_' });
  // Gauges named `_total` fail `promtool check metrics`; the per-type gauges they sum stay.
  for (const name of ['brisk_nodejs_active_handles_total', 'brisk_nodejs_active_requests_total', 'brisk_nodejs_active_resources_total']) registry.removeSingleMetric(name);
  return { text: () => registry.metrics() };
}

/** Builds the families and the registry of default metrics. */
export function createMetrics(src: MetricsSources): MetricsExposition {
  const registry = processFamilies();
  const rec = src.recorder;
  const families: Family[] = [];
  const add = (name: string, help: string, type: MetricType, fill: (w: Writer) => void): void => {
    families.push({ name, help, type, fill });
  };
  const routes = () => [...rec.routes.values(), rec.noRoute];
  /** The label string of a runtime target: its record's, else built (a target not bound yet). */
  const targetLabels = (t: Target): string => rec.targets.get(t.key)?.labels ?? labelString('upstream', t.upstream, 'target', t.origin + t.basePath);

  // ---- requests ---------------------------------------------------------------------
  add('brisk_requests_total', 'Requests answered, by route, upstream, target and status class (499: the client left).', 'counter', (w) => {
    const live = liveTargets(src);
    for (const rr of routes()) {
      for (const [tr, counts] of rr.byTarget) {
        if (!live.has(tr)) continue;
        for (let c = 0; c < STATUS_CLASSES.length; c++) {
          const v = counts[c]!;
          if (v > 0) w.sample('brisk_requests_total', `${rr.labels},${tr.labels},status_class="${STATUS_CLASSES[c]}"`, v);
        }
      }
    }
  });
  add('brisk_requests_by_method_total', 'Requests by route and method (methods outside the standard set count as OTHER).', 'counter', (w) => {
    for (const rr of routes()) for (let m = 0; m < METHODS.length; m++) if (rr.methods[m]! > 0) w.sample('brisk_requests_by_method_total', `${rr.labels},method="${METHODS[m]}"`, rr.methods[m]!);
  });
  add('brisk_grpc_requests_total', 'gRPC calls by route, service, method and the gRPC status the client got (NONE: the stream was reset). At most 100 methods per route; more count as (other).', 'counter', (w) => {
    for (const rr of routes()) {
      if (rr.grpc === null) continue;
      for (const m of rr.grpc.all()) {
        for (let s = 0; s < m.byStatus.length; s++) if (m.byStatus[s]! > 0) w.sample('brisk_grpc_requests_total', `${rr.labels},${m.labels},grpc_status="${grpcStatusLabel(s)}"`, m.byStatus[s]!);
      }
    }
  });
  add('brisk_grpc_request_duration_seconds', 'Time of gRPC calls by route, service and method, from arrival to the end of the answer (a stream: to its end).', 'histogram', (w) => {
    for (const rr of routes()) if (rr.grpc !== null) for (const m of rr.grpc.all()) histogram(w, 'brisk_grpc_request_duration_seconds', m, `${rr.labels},${m.labels}`);
  });
  add('brisk_request_duration_seconds', 'Time from the request reaching the gateway to the end of its answer, by route.', 'histogram', (w) => {
    for (const rr of routes()) if (rr.series.requests > 0) histogram(w, 'brisk_request_duration_seconds', rr.series, rr.labels);
  });
  add('brisk_target_request_duration_seconds', 'Time from the request reaching the gateway to the end of its answer, by the target that answered (target "(none)": answered before a target was tried).', 'histogram', (w) => {
    for (const tr of liveTargets(src)) if (tr.series.requests > 0) histogram(w, 'brisk_target_request_duration_seconds', tr.series, tr.labels);
  });
  add('brisk_requests_in_flight', 'Requests being answered now (WebSocket and other tunnels are not counted).', 'gauge', (w) => {
    w.sample('brisk_requests_in_flight', '', Math.max(0, rec.inFlight));
  });
  add('brisk_request_body_bytes_total', 'Request body bytes received, by route (bodies with a Content-Length; chunked uploads are not counted).', 'counter', (w) => {
    for (const rr of routes()) if (rr.series.requests > 0) w.sample('brisk_request_body_bytes_total', rr.labels, rr.bytesIn);
  });
  add('brisk_response_body_bytes_total', 'Response body bytes sent from targets to clients, by route.', 'counter', (w) => {
    for (const rr of routes()) if (rr.series.requests > 0) w.sample('brisk_response_body_bytes_total', rr.labels, rr.bytesOut);
  });
  add('brisk_request_errors_total', 'Requests the gateway answered with one of its error codes (refusals such as BRISK_RATE_LIMITED, BRISK_SHED, BRISK_CIRCUIT_OPEN, and upstream failures), by route and code.', 'counter', (w) => {
    for (const rr of routes()) for (let c = 0; c < ERROR_CODE_LIST.length; c++) if (rr.codes[c]! > 0) w.sample('brisk_request_errors_total', `${rr.labels},code="${ERROR_CODE_LIST[c]}"`, rr.codes[c]!);
  });
  add('brisk_cache_requests_total', 'Response-cache results by route (hit, miss, stale, revalidated, bypass, other).', 'counter', (w) => {
    for (const rr of routes()) for (let c = 0; c < CACHE_RESULTS.length; c++) if (rr.cache[c]! > 0) w.sample('brisk_cache_requests_total', `${rr.labels},result="${CACHE_RESULTS[c]}"`, rr.cache[c]!);
  });
  add('brisk_rate_limit_store_errors_total', "Rate-limit decisions the store (Redis) could not make, by route; route=\"(defaults)\" for the gateway-wide `defaults.rateLimit` (the counter restarts when the rate limit is rebuilt by a reload).", 'counter', (w) => {
    const rt = src.runtime();
    // A route's limits may run as two middlewares (before and after auth), and a default
    // one is shared by the routes that take it: one sample per route, and one for a
    // limiter several routes share.
    const owners = new Map<unknown, string>();
    for (const r of rt.routes) {
      for (const m of rt.pipelineOfRoute[r.index] ?? []) {
        if (m.name !== 'rate-limit') continue;
        const seen = owners.get(m);
        owners.set(m, seen === undefined || seen === r.name ? r.name : '(defaults)');
      }
    }
    const byOwner = new Map<string, number>();
    for (const [m, owner] of owners) {
      const stats = (m as { stats?: () => unknown }).stats;
      if (typeof stats !== 'function') continue;
      const errors = (stats.call(m) as { storeErrors?: number }).storeErrors;
      if (typeof errors === 'number') byOwner.set(owner, (byOwner.get(owner) ?? 0) + errors);
    }
    for (const [owner, errors] of byOwner) w.sample('brisk_rate_limit_store_errors_total', labelString('route', owner), errors);
  });

  // ---- upstreams and targets --------------------------------------------------------
  add('brisk_upstream_retries_total', 'Retries sent, by upstream.', 'counter', (w) => {
    for (const ur of rec.upstreams.values()) w.sample('brisk_upstream_retries_total', ur.labels, ur.retries);
  });
  add('brisk_upstream_hedges_total', 'Requests that sent a hedged (parallel) try, by upstream.', 'counter', (w) => {
    for (const ur of rec.upstreams.values()) w.sample('brisk_upstream_hedges_total', ur.labels, ur.hedges);
  });
  add('brisk_upstream_breaker_state', 'Circuit breaker state by upstream: 1 for the current state (closed, open, half-open), 0 for the others. Upstreams without a breaker have no series.', 'gauge', (w) => {
    for (const u of src.runtime().upstreams.values()) {
      const b = u.breaker;
      if (b === null) continue;
      const state = b.state;
      const labels = labelString('upstream', u.name);
      for (const st of BREAKER_STATES) w.sample('brisk_upstream_breaker_state', `${labels},state="${st}"`, state === st ? 1 : 0);
    }
  });
  add('brisk_upstream_panic', '1 while the upstream is in panic mode (too few available targets: traffic spreads over all of them).', 'gauge', (w) => {
    for (const u of src.runtime().upstreams.values()) w.sample('brisk_upstream_panic', labelString('upstream', u.name), u.panic ? 1 : 0);
  });
  add('brisk_upstream_targets', 'Targets configured, by upstream.', 'gauge', (w) => {
    for (const u of src.runtime().upstreams.values()) w.sample('brisk_upstream_targets', labelString('upstream', u.name), u.targets.length);
  });
  add('brisk_upstream_available_targets', 'Targets taking traffic (healthy and not ejected), by upstream.', 'gauge', (w) => {
    for (const u of src.runtime().upstreams.values()) w.sample('brisk_upstream_available_targets', labelString('upstream', u.name), u.availableCount);
  });
  add('brisk_target_healthy', '1 when the target takes traffic (passes its health checks and is not ejected), else 0.', 'gauge', (w) => {
    for (const u of src.runtime().upstreams.values()) for (const t of u.targets) w.sample('brisk_target_healthy', targetLabels(t), t.available ? 1 : 0);
  });
  add('brisk_target_state', "The target's health state: 1 for the current one (healthy, unhealthy, ejected, warming), 0 for the others.", 'gauge', (w) => {
    for (const u of src.runtime().upstreams.values()) {
      for (const t of u.targets) {
        const state = targetHealth(t);
        const labels = targetLabels(t);
        for (const st of TARGET_STATES) w.sample('brisk_target_state', `${labels},state="${st}"`, st === state ? 1 : 0);
      }
    }
  });
  add('brisk_target_ejections_total', 'Outlier ejections by target and rule (consecutive_5xx, consecutive_gateway_failures, failure_rate).', 'counter', (w) => {
    for (const tr of rec.targets.values()) {
      for (let r = 0; r < EJECTION_REASONS.length; r++) {
        const v = tr.ejections[r]!;
        // The three rules always (a zero says "watched, never ejected"); `other` only once seen.
        if (v > 0 || r < 3) w.sample('brisk_target_ejections_total', `${tr.labels},reason="${EJECTION_REASONS[r]}"`, v);
      }
    }
  });
  add('brisk_target_requests_in_flight', 'Tries sent to the target and not finished.', 'gauge', (w) => {
    for (const u of src.runtime().upstreams.values()) for (const t of u.targets) w.sample('brisk_target_requests_in_flight', targetLabels(t), t.inFlight);
  });
  add('brisk_target_latency_ewma_seconds', "The balancer's latency estimate of the target (peak EWMA of response-header latency).", 'gauge', (w) => {
    for (const u of src.runtime().upstreams.values()) for (const t of u.targets) w.sample('brisk_target_latency_ewma_seconds', targetLabels(t), t.ewmaMs / 1000);
  });

  // ---- gateway and process ----------------------------------------------------------
  const single = (name: string, help: string, type: MetricType, read: () => number): void => add(name, help, type, (w) => w.sample(name, '', read()));
  single('brisk_open_connections', 'Client connections open now (HTTP/1 sockets and HTTP/2 sessions).', 'gauge', src.openConnections);
  single('brisk_shed_level', 'The gateway-wide load-shedding level (0: none, 1: low, 2: low+normal, 3: all).', 'gauge', src.shedLevel);
  single('brisk_event_loop_lag_seconds', 'Event-loop lag, p99 over the last second.', 'gauge', () => src.eventLoopLagMs() / 1000);
  single('brisk_process_cpu_usage_ratio', 'CPU used by the gateway process over the last second, as a share of one core.', 'gauge', src.processCpuRatio);
  single('brisk_config_version', 'The config version in force (1 at start, +1 per successful reload).', 'gauge', () => src.runtime().version);
  add('brisk_config_reloads_total', 'Reloads by result (success, failure).', 'counter', (w) => {
    w.sample('brisk_config_reloads_total', 'result="success"', src.reloads.success);
    w.sample('brisk_config_reloads_total', 'result="failure"', src.reloads.failure);
  });
  single('brisk_config_last_reload_success_timestamp_seconds', 'When the config in force was loaded (start or last successful reload), Unix seconds.', 'gauge', () => src.reloads.lastSuccessAt / 1000);
  const buildLabels = labelString('version', BRISK_VERSION, 'nodejs', process.versions.node);
  add('brisk_build_info', 'Always 1; the labels say which Brisk and Node.js are running.', 'gauge', (w) => w.sample('brisk_build_info', buildLabels, 1));

  // ---- host --------------------------------------------------------------------------
  const host = src.host;
  single('brisk_host_cpu_usage_ratio', "Share of all the host's cores busy over the last second (0..1).", 'gauge', () => host.cpuRatio);
  add('brisk_host_cpu_seconds_total', 'CPU seconds of the host since boot, all cores, by mode (Linux).', 'counter', (w) => {
    for (const [mode, v] of host.cpuSeconds) w.sample('brisk_host_cpu_seconds_total', labelString('mode', mode), v);
  });
  single('brisk_host_memory_total_bytes', 'Memory of the host.', 'gauge', () => host.memTotalBytes);
  single('brisk_host_memory_available_bytes', 'Memory available to new work without swapping (MemAvailable).', 'gauge', () => host.memAvailableBytes);
  single('brisk_host_disk_total_bytes', "Size of the file system holding the gateway's working directory.", 'gauge', () => host.diskTotalBytes);
  single('brisk_host_disk_free_bytes', 'Bytes an unprivileged process can still write on that file system.', 'gauge', () => host.diskFreeBytes);
  add('brisk_host_network_receive_bytes_total', 'Bytes received by the host since boot, by interface (lo included; Linux).', 'counter', (w) => {
    for (const [device, v] of host.netRx) w.sample('brisk_host_network_receive_bytes_total', labelString('device', device), v);
  });
  add('brisk_host_network_transmit_bytes_total', 'Bytes sent by the host since boot, by interface (lo included; Linux).', 'counter', (w) => {
    for (const [device, v] of host.netTx) w.sample('brisk_host_network_transmit_bytes_total', labelString('device', device), v);
  });
  single('brisk_host_load1', "The host's one-minute load average.", 'gauge', () => host.load1);

  // ---- services Brisk runs (the supervisor) -------------------------------------------
  const services = (): readonly ServiceSnapshot[] => src.services?.() ?? [];
  add('brisk_service_instances', 'Instances of a service Brisk runs, by state (starting, ready, unhealthy, draining, stopping).', 'gauge', (w) => {
    for (const s of services()) {
      const labels = labelString('service', s.name);
      for (const st of INSTANCE_STATES) w.sample('brisk_service_instances', `${labels},state="${st}"`, s.instances.filter((i) => i.state === st).length);
    }
  });
  add('brisk_service_desired_instances', 'The instance count the supervisor keeps running, by service.', 'gauge', (w) => {
    for (const s of services()) w.sample('brisk_service_desired_instances', labelString('service', s.name), s.desired);
  });
  add('brisk_service_restarts_total', 'Instances restarted, by service and reason (exit, unhealthy, slow, memory, not-ready, rolling, alert, config).', 'counter', (w) => {
    for (const s of services()) {
      const labels = labelString('service', s.name);
      for (const r of RESTART_REASONS) w.sample('brisk_service_restarts_total', `${labels},reason="${r}"`, s.restarts[r] ?? 0);
    }
  });
  add('brisk_service_scaling_decisions_total', 'Scaling decisions, by service and direction (up, down).', 'counter', (w) => {
    for (const s of services()) {
      const labels = labelString('service', s.name);
      w.sample('brisk_service_scaling_decisions_total', `${labels},direction="up"`, s.scaleDecisions.up);
      w.sample('brisk_service_scaling_decisions_total', `${labels},direction="down"`, s.scaleDecisions.down);
    }
  });
  add('brisk_service_problem', '1 while the service has a problem (its code in `code`: a program that cannot start, a crash loop given up, an instance never ready, a port in use).', 'gauge', (w) => {
    for (const s of services()) if (s.problem !== null) w.sample('brisk_service_problem', labelString('service', s.name, 'code', s.problem.code), 1);
  });
  add('brisk_service_instance_resident_memory_bytes', 'Resident memory of each instance.', 'gauge', (w) => {
    for (const s of services()) for (const i of s.instances) if (i.rssBytes !== null) w.sample('brisk_service_instance_resident_memory_bytes', labelString('service', s.name, 'instance', String(i.id)), i.rssBytes);
  });
  add('brisk_service_instance_cpu_ratio', 'CPU of each instance over the last second, as a share of one core.', 'gauge', (w) => {
    for (const s of services()) for (const i of s.instances) if (i.cpuPercent !== null) w.sample('brisk_service_instance_cpu_ratio', labelString('service', s.name, 'instance', String(i.id)), i.cpuPercent / 100);
  });

  // ---- config store --------------------------------------------------------------------
  const revision = (): ConfigRevisionSnapshot | null => src.configRevision?.() ?? null;
  add('brisk_config_revision', "The config store's revision this node serves (etcd's mod_revision of the key; 0 while the file's own routes serve), labelled by where it came from. Nodes that disagree for long are not converging.", 'gauge', (w) => {
    const r = revision();
    if (r !== null) w.sample('brisk_config_revision', labelString('key', r.key, 'source', r.source), r.revision);
  });
  add('brisk_config_store_up', '1 while the config store (etcd) answers this node.', 'gauge', (w) => {
    const r = revision();
    if (r !== null) w.sample('brisk_config_store_up', labelString('key', r.key), r.storeUp ? 1 : 0);
  });
  add('brisk_config_rejected_revision', 'The last config store revision this node refused as invalid (0: none since the last one applied).', 'gauge', (w) => {
    const r = revision();
    if (r !== null) w.sample('brisk_config_rejected_revision', labelString('key', r.key), r.rejectedRevision ?? 0);
  });

  // ---- service discovery ----------------------------------------------------------------
  const discovery = (): readonly DiscoverySnapshot[] => src.discovery?.() ?? [];
  const dl = (d: DiscoverySnapshot): string => labelString('upstream', d.upstream, 'provider', d.provider);
  add('brisk_discovery_staleness_seconds', "Seconds since the upstream's discovery provider last confirmed the targets in force (a registry that is down makes it grow; the view stays).", 'gauge', (w) => {
    for (const d of discovery()) w.sample('brisk_discovery_staleness_seconds', dl(d), d.stalenessS);
  });
  add('brisk_discovery_targets', 'Targets in the view of the upstream\'s discovery provider.', 'gauge', (w) => {
    for (const d of discovery()) w.sample('brisk_discovery_targets', dl(d), d.targets);
  });
  add('brisk_discovery_updates_total', 'Answers of discovery providers, by result: applied (a change), unchanged, refused (fewer than minTargets), failed (no answer).', 'counter', (w) => {
    for (const d of discovery()) for (const r of ['applied', 'unchanged', 'refused', 'failed'] as const) w.sample('brisk_discovery_updates_total', `${dl(d)},result="${r}"`, d.updates[r]);
  });
  add('brisk_discovery_from_snapshot', '1 while the upstream serves the view restored from its discovery snapshot (started while the registry was down).', 'gauge', (w) => {
    for (const d of discovery()) w.sample('brisk_discovery_from_snapshot', dl(d), d.from === 'snapshot' ? 1 : 0);
  });

  const heads = families.map((f) => `# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${f.name} ${f.type}\n`);
  return {
    async text() {
      const w = new Writer();
      for (let i = 0; i < families.length; i++) {
        w.raw(heads[i]!);
        families[i]!.fill(w);
      }
      const own = await registry.text();
      return w.text() + (src.processMetrics === undefined ? own : src.processMetrics(own));
    },
  };
}

const BREAKER_STATES = ['closed', 'open', 'half-open'] as const;
const INSTANCE_STATES: readonly InstanceState[] = ['starting', 'ready', 'unhealthy', 'draining', 'stopping'];

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

const LE = PROMETHEUS_EDGES_S.map((s) => `,le="${s}"`);

function histogram(w: Writer, name: string, s: Pick<WindowSeries, 'buckets' | 'sumMs' | 'requests'>, labels: string): void {
  const b = s.buckets;
  const bucket = `${name}_bucket`;
  let cum = 0;
  let i = 0;
  for (let e = 0; e < PROMETHEUS_EDGES_S.length; e++) {
    const upTo = PROMETHEUS_EDGE_INDEX[e]!;
    for (; i <= upTo; i++) cum += b[i]!;
    w.sample(bucket, labels + LE[e]!, cum);
  }
  for (; i < BUCKETS; i++) cum += b[i]!;
  w.sample(bucket, `${labels},le="+Inf"`, cum);
  w.sample(`${name}_sum`, labels, s.sumMs / 1000);
  w.sample(`${name}_count`, labels, s.requests);
}

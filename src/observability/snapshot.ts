/**
 * The one shape in which the gateway's live state is read by everything that watches it
 * without sitting in the request path: the dashboard (pushed over SSE once a second) and
 * the alert rules (evaluated against it). Prometheus scrapes the same numbers through
 * `/metrics`; this is the in-process view of them, windowed so that rates, ratios and
 * quantiles over the last N seconds can be read without a time-series database.
 *
 * All durations are milliseconds, all rates per second, all ratios 0..1. A quantile over a
 * window with no requests is `null` (not 0: "no data" must not look like "fast").
 */

/** Requests seen over a window, by route, upstream or target. */
export interface WindowStats {
  /** The window's length in seconds (the last N full seconds). */
  readonly windowS: number;
  readonly requests: number;
  /** Requests per second over the window. */
  readonly rps: number;
  /** Answers with status >= 500 (including Brisk's own 502/503/504). */
  readonly errors: number;
  /** errors / requests; 0 when there were no requests. */
  readonly errorRatio: number;
  readonly p50Ms: number | null;
  readonly p95Ms: number | null;
  readonly p99Ms: number | null;
}

/** One route. */
export interface RouteSnapshot {
  readonly name: string;
  readonly upstream: string;
  readonly window: WindowStats;
  /** Counters since start. */
  readonly rateLimited: number;
  readonly shed: number;
  readonly cache: CacheSnapshot | null;
}

/** The health of one target, as the balancer sees it. */
export type TargetHealth = 'healthy' | 'unhealthy' | 'ejected' | 'warming';

/** One target of an upstream. */
export interface TargetSnapshot {
  readonly upstream: string;
  readonly origin: string;
  readonly health: TargetHealth;
  /** Why it is unhealthy or ejected (a health-check or outlier reason), else null. */
  readonly reason: string | null;
  readonly inFlight: number;
  /** The balancer's latency estimate (EWMA). */
  readonly latencyMs: number;
  readonly window: WindowStats;
}

/** A circuit breaker's state; null where the upstream has no breaker. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** One upstream. */
export interface UpstreamSnapshot {
  readonly name: string;
  readonly breaker: BreakerState | null;
  readonly panic: boolean;
  readonly healthyTargets: number;
  readonly totalTargets: number;
  readonly window: WindowStats;
  /** Counters since start. */
  readonly retries: number;
  readonly hedges: number;
  readonly ejections: number;
}

/** Cache results since start. */
export interface CacheSnapshot {
  readonly hits: number;
  readonly misses: number;
  readonly stale: number;
  readonly revalidated: number;
  /** hits / (hits + misses + stale + revalidated) over the window; 0 when none. */
  readonly hitRatio: number;
}

/** This gateway process. */
export interface ProcessSnapshot {
  readonly uptimeS: number;
  /** CPU used by the process over the last second, percent of one core. */
  readonly cpuPercent: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  /** Event-loop lag p99 over the last second. */
  readonly eventLoopLagMs: number;
  readonly openConnections: number;
}

/** The machine the gateway runs on. */
export interface HostSnapshot {
  /** All cores, percent busy over the last second. */
  readonly cpuPercent: number;
  readonly memoryUsedRatio: number;
  /** The file system holding the gateway's working directory. */
  readonly diskUsedRatio: number;
  readonly netRxBytesPerS: number;
  readonly netTxBytesPerS: number;
  readonly load1: number;
}

/** Everything, at one instant, with request statistics over the last `windowS` seconds. */
export interface StatsSnapshot {
  /** Epoch milliseconds. */
  readonly at: number;
  readonly configVersion: number;
  /** The gateway as a whole. */
  readonly total: WindowStats;
  readonly routes: readonly RouteSnapshot[];
  readonly upstreams: readonly UpstreamSnapshot[];
  readonly targets: readonly TargetSnapshot[];
  readonly process: ProcessSnapshot;
  readonly host: HostSnapshot;
  /** The gateway-wide shedding level (0: not shedding). */
  readonly shedLevel: number;
  /** The last requests that ended in an error, newest first (bounded, e.g. 50). */
  readonly recentErrors: readonly RecentError[];
  /** The services Brisk runs (empty when it runs none). */
  readonly services: readonly ServiceSnapshot[];
  /** The upstreams whose targets a discovery provider finds (absent or empty when none). */
  readonly discovery?: readonly DiscoverySnapshot[];
}

/** The discovery of one upstream (`upstreams.NAME.discovery`), filled by src/providers/discovery/. */
export interface DiscoverySnapshot {
  readonly upstream: string;
  /** `file`, `dns`, `redis`, `etcd`, `kubernetes`. */
  readonly provider: string;
  /** What it reads (`dns A shop.internal:8080`, `redis brisk:registry:shop`). */
  readonly identity: string;
  /** Targets in the view in force. */
  readonly targets: number;
  /** Seconds since the registry last confirmed the view in force (since the start when there is none yet). */
  readonly stalenessS: number;
  /** Where the view in force came from: the provider, the snapshot on disk (restart while the registry is down), or none yet. */
  readonly from: 'provider' | 'snapshot' | 'none';
  /** Why the last try failed (or the last answer was refused), while it is so; null once an answer was applied again. */
  readonly problem: { readonly code: string; readonly message: string; readonly since: number } | null;
  /** Answers since the start, by what became of them. */
  readonly updates: { readonly applied: number; readonly unchanged: number; readonly refused: number; readonly failed: number };
}

/** Why the supervisor restarted an instance (`brisk_service_restarts_total{reason}`). */
export type RestartReason = 'exit' | 'unhealthy' | 'slow' | 'memory' | 'not-ready' | 'rolling' | 'alert' | 'config';

/** Every restart reason, in the order metrics and tables list them. */
export const RESTART_REASONS: readonly RestartReason[] = ['exit', 'unhealthy', 'slow', 'memory', 'not-ready', 'rolling', 'alert', 'config'];

/**
 * Where an instance stands: `starting` (spawned, waiting for its first passing health
 * check), `ready` (taking traffic), `unhealthy` (was ready, now failing its health check
 * or ejected), `draining` (out of the balancer, its requests in flight finishing),
 * `stopping` (told to exit: SIGTERM, then SIGKILL after the grace period).
 */
export type InstanceState = 'starting' | 'ready' | 'unhealthy' | 'draining' | 'stopping';

/** One process of a service Brisk runs. */
export interface InstanceSnapshot {
  /** Its number in the service (`$BRISK_INSTANCE`), unique while Brisk runs. */
  readonly id: number;
  /** Null until spawned, or when the program could not start. */
  readonly pid: number | null;
  readonly port: number;
  /** Its target URL in the upstream. */
  readonly url: string;
  readonly state: InstanceState;
  /** Epoch ms. */
  readonly startedAt: number;
  readonly readyAt: number | null;
  readonly uptimeS: number;
  /** Resident memory; null before the first sample. */
  readonly rssBytes: number | null;
  /** CPU over the last sample, percent of one core; null before the second sample. */
  readonly cpuPercent: number | null;
  /** Requests sent to it and not finished. */
  readonly inFlight: number;
  /** How many instances came before it in its place (each restart replaces one with a new one). */
  readonly restarts: number;
  /** Why its predecessor (instance `replaced`) was replaced, when it was. */
  readonly lastRestart: { readonly reason: RestartReason; readonly detail: string; readonly at: number; readonly replaced: number } | null;
}

/** A service Brisk runs and supervises (`services.NAME`). */
export interface ServiceSnapshot {
  readonly name: string;
  readonly upstream: string;
  readonly min: number;
  readonly max: number;
  /** The count the supervisor keeps running now. */
  readonly desired: number;
  /** Instances taking traffic. */
  readonly ready: number;
  /** `auto` (autoscaler), `fixed` (no `scale`), `manual` (set by `POST …/scale` until `{"auto": true}`), `command` (`scale.command`). */
  readonly scaling: 'auto' | 'fixed' | 'manual' | 'command';
  readonly instances: readonly InstanceSnapshot[];
  /** Restarts since Brisk started, by reason. */
  readonly restarts: Readonly<Partial<Record<RestartReason, number>>>;
  /** Scaling decisions since Brisk started. */
  readonly scaleDecisions: { readonly up: number; readonly down: number };
  readonly lastScale: { readonly from: number; readonly to: number; readonly reason: string; readonly at: number } | null;
  /** What is wrong now (a program that cannot start, a crash loop, an instance never ready, a port in use), with its error code; null when nothing. */
  readonly problem: { readonly code: string; readonly message: string; readonly since: number } | null;
  /** The restart budget is spent: failing instances are not started again until a restart or a reload. */
  readonly gaveUp: boolean;
  /** A rolling restart under way. */
  readonly rollout: { readonly done: number; readonly total: number; readonly reason: string } | null;
}

/** Where watchers read the live state from. */
export interface StatsSource {
  /** The state now, with request statistics over the last `windowS` seconds (1..3600). */
  snapshot(windowS: number): StatsSnapshot;
  /** Called once a second with a fresh sample; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void;
}

/** A recent request that ended in an error (status >= 500 or a Brisk error code). */
export interface RecentError {
  readonly at: number;
  readonly requestId: string | undefined;
  readonly method: string;
  /** The route's name (never the raw path: it may carry secrets). */
  readonly route: string | null;
  readonly upstream: string | null;
  readonly target: string | null;
  readonly status: number;
  readonly code: string | null;
}

/** An alert as watchers see it. */
export interface AlertSummary {
  readonly rule: string;
  readonly severity: string;
  readonly state: 'pending' | 'firing' | 'resolved';
  /** Epoch ms when it entered its state. */
  readonly since: number;
  readonly message: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly silenced: boolean;
}

/** What the alerting engine shows to watchers (the dashboard). */
export interface AlertsView {
  /** Pending and firing alerts, and those resolved in the last few minutes. */
  list(): readonly AlertSummary[];
}

/** Which revision of the config store a node serves (`configStore`), filled by src/providers/config-store/. */
export interface ConfigRevisionSnapshot {
  readonly key: string;
  /** Where the routes and upstreams in force came from: etcd, the snapshot on disk, or the file (no document yet). */
  readonly source: 'etcd' | 'snapshot' | 'file';
  /** etcd's revision of the document in force (0: the file's). */
  readonly revision: number;
  readonly appliedAt: string | null;
  /** The newest revision seen (higher than `revision` while a reload runs, or when it was refused). */
  readonly latestSeen: number;
  /** The last revision refused as invalid, until a newer one is applied. */
  readonly rejectedRevision: number | null;
  readonly storeUp: boolean;
  /** Seconds since etcd last answered (null: never). */
  readonly stalenessS: number | null;
}

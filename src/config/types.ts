import type { AggregateConfig } from '../aggregate/schema.js';
import type { CircuitBreakerConfig, UpstreamLimitsConfig } from '../upstreams/resilience/overload-schema.js';
import type { AlertingConfig } from '../alerting/schema.js';
import type { AuthConfig } from '../middlewares/auth/schema.js';
import type { CorsConfig } from '../middlewares/cors/schema.js';
import type { IpFilterConfig } from '../middlewares/ip-filter/schema.js';
import type { RateLimitConfig } from '../middlewares/rate-limit/schema.js';
import type { ConcurrencyConfig, OverloadConfig, PriorityName } from '../middlewares/shedding/schema.js';
import type { CacheConfig } from '../middlewares/cache/schema.js';
/**
 * The normalised, frozen configuration the runtime is built from: durations in
 * milliseconds, sizes in bytes, defaults filled in, names resolved. Produced by
 * `loadConfig` only after the whole file has validated.
 */

/** A value matcher for a header or query parameter. */
export interface StringMatcher {
  readonly exact?: string;
  readonly prefix?: string;
  readonly regex?: string;
  /** `true`: must be present; `false`: must be absent. */
  readonly present?: boolean;
}

export interface RouteMatch {
  /** Lower-cased host names; `*.example.com` for subdomain wildcards. Empty: any host. */
  readonly hosts: readonly string[];
  readonly path?: string;
  readonly pathPrefix?: string;
  readonly pathRegex?: string;
  /** Upper-cased methods. Empty: any method. */
  readonly methods: readonly string[];
  /** Header names lower-cased. */
  readonly headers: Readonly<Record<string, StringMatcher>>;
  readonly query: Readonly<Record<string, StringMatcher>>;
}

export interface HeaderEdits {
  /** Names lower-cased. */
  readonly set: Readonly<Record<string, string>>;
  readonly add: Readonly<Record<string, string>>;
  readonly remove: readonly string[];
}

export interface RouteRewrite {
  readonly stripPrefix?: string;
  readonly addPrefix?: string;
  readonly path?: string;
}

export interface Timeouts {
  readonly connectMs: number;
  readonly responseMs: number;
  readonly idleMs: number;
  /** 0: no limit. */
  readonly totalMs: number;
}

export type FallbackConfig =
  | { readonly kind: 'static'; readonly status: number; readonly body: string; readonly contentType: string }
  | { readonly kind: 'upstream'; readonly upstream: string };

export interface RouteConfig {
  readonly name: string;
  /** Position of the route in the file, the last tie-breaker. */
  readonly index: number;
  readonly match: RouteMatch;
  /** '' for an aggregate route (one with `aggregate`). */
  readonly upstream: string;
  /** Set instead of `upstream`: the parts requested and merged (src/aggregate/). */
  readonly aggregate?: AggregateConfig;
  readonly rewrite?: RouteRewrite;
  readonly requestHeaders?: HeaderEdits;
  readonly responseHeaders?: HeaderEdits;
  /** 0: no limit. */
  readonly maxBodySize: number;
  /** Route-level overrides of the upstream timeouts, already merged. */
  readonly timeouts?: Timeouts;
  /** The route's own retry policy; when absent the upstream's applies. */
  readonly retry?: RetryConfig;
  readonly hedge?: HedgeConfig;
  /** What to answer while the upstream's circuit breaker is open. */
  readonly fallback?: FallbackConfig;
  /** Who is shed first under overload; `normal` when not set. */
  readonly priority?: PriorityName;
  readonly concurrency?: ConcurrencyConfig;
  readonly ipFilter?: IpFilterConfig;
  readonly cors?: CorsConfig;
  readonly auth?: AuthConfig;
  readonly rateLimit?: RateLimitConfig;
  readonly cache?: CacheConfig;
}

export interface TargetConfig {
  /** Origin, `http://127.0.0.1:7001`. */
  readonly origin: string;
  /** Path prefix from the URL ('' when none). */
  readonly basePath: string;
  readonly weight: number;
}

export type BalancerKind = 'p2c-ewma' | 'round-robin' | 'weighted-round-robin' | 'least-connections' | 'random' | 'consistent-hash';

export interface HealthCheckConfig {
  readonly type: 'http' | 'tcp';
  readonly path: string;
  readonly method: 'GET' | 'HEAD';
  /** Inclusive status ranges that count as healthy. */
  readonly expectedStatus: readonly (readonly [number, number])[];
  readonly bodyContains?: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly intervalMs: number;
  /** 0..1 */
  readonly jitter: number;
  readonly timeoutMs: number;
  readonly unhealthyThreshold: number;
  readonly healthyThreshold: number;
  readonly initiallyHealthy: boolean;
}

export interface OutlierDetectionConfig {
  /** 0: off. */
  readonly consecutive5xx: number;
  /** 0: off. */
  readonly consecutiveGatewayFailures: number;
  readonly failureRate: { readonly threshold: number; readonly minRequests: number; readonly windowMs: number } | null;
  readonly baseEjectionMs: number;
  readonly maxEjectionMs: number;
  /** 0..1 */
  readonly maxEjectionRatio: number;
}

export interface RetryConfig {
  /** Retries after the first try; 0: off. */
  readonly attempts: number;
  readonly statuses: readonly number[];
  /** 0: use the response timeout. */
  readonly perTryTimeoutMs: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** 0..1 */
  readonly budgetRatio: number;
  readonly budgetMinPerSecond: number;
  readonly maxBufferedBody: number;
  readonly unsafeMethods: boolean;
}

export interface HedgeConfig {
  /** A fixed delay in ms, or 'p95'. */
  readonly delay: number | 'p95';
  readonly minDelayMs: number;
}

export interface HashConfig {
  readonly source: 'header' | 'cookie' | 'ip' | 'path';
  /** Lower-cased header name, or the cookie name. */
  readonly name: string;
  readonly algorithm: 'ring' | 'maglev';
  readonly boundedLoad: number;
}

export interface UpstreamConfig {
  readonly name: string;
  readonly targets: readonly TargetConfig[];
  readonly balancer: BalancerKind;
  readonly hash: HashConfig | null;
  readonly stickySession: { readonly cookie: string; readonly ttlMs: number } | null;
  readonly slowStartMs: number;
  /** How long a target leaving at runtime may finish its requests in flight. */
  readonly drainTimeoutMs: number;
  readonly healthCheck: HealthCheckConfig | null;
  readonly outlierDetection: OutlierDetectionConfig;
  /** 0..1 */
  readonly panicThreshold: number;
  readonly retry: RetryConfig;
  /** Envoy-style hard limits; null when not configured. */
  readonly limits: UpstreamLimitsConfig | null;
  readonly circuitBreaker: CircuitBreakerConfig | null;
  readonly timeouts: Timeouts;
  readonly pool: { readonly connections: number; readonly keepAliveTimeoutMs: number };
  readonly hostHeader: 'preserve' | 'target';
}

export interface CertificateConfig {
  /** Absolute paths. */
  readonly certFile: string;
  readonly keyFile: string;
  readonly serverNames?: readonly string[];
}

export interface ListenerConfig {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly tls?: {
    readonly certificates: readonly CertificateConfig[];
    readonly http2: boolean;
    readonly minVersion: 'TLSv1.2' | 'TLSv1.3';
  };
}

export interface Config {
  /** Absolute path of the file it was read from ('' when built in memory). */
  readonly source: string;
  readonly listen: readonly ListenerConfig[];
  /** `allowedHosts` (lower case) only when the file sets it. */
  readonly admin?: { readonly host: string; readonly port: number; readonly allowedHosts?: readonly string[]; readonly token?: string };
  readonly limits: {
    readonly maxHeaderSize: number;
    readonly maxHeaderCount: number;
    readonly headersTimeoutMs: number;
    readonly requestTimeoutMs: number;
    readonly keepAliveTimeoutMs: number;
    readonly maxBodySize: number;
  };
  readonly proxy: {
    readonly trustedProxies: readonly string[];
    readonly via: string | false;
    readonly requestIdHeader: string;
    readonly drainTimeoutMs: number;
    readonly deadlineHeader: string | false;
  };
  /** Gateway-wide load shedding; null when off. */
  readonly overload: OverloadConfig | null;
  readonly logging: {
    readonly level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
    readonly format: 'auto' | 'json' | 'pretty';
    readonly accessLog: boolean;
    /** Where access lines go and which are kept (meaningful when `accessLog` is true). */
    readonly access: AccessLogConfig;
  };
  /** Absent when the file has no `metrics` key: recording is on. */
  readonly metrics?: { readonly enabled: boolean };
  readonly tracing: TracingConfig;
  readonly upstreams: Readonly<Record<string, UpstreamConfig>>;
  readonly routes: readonly RouteConfig[];
  /** Alert rules, receivers and the delivery queue; absent when the file has no `alerts` (the engine then runs the default rules). */
  readonly alerts?: AlertingConfig;
}

/** One problem found in a configuration file, with where it is. */
export interface ConfigProblem {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** Dotted path of the key at fault: `routes.1.upstream`. */
  readonly path: string;
  readonly message: string;
}

/** `logging.accessLog` as an object, normalised. */
export interface AccessLogConfig {
  /** Absolute path, or null for stdout. */
  readonly file: string | null;
  /** Bytes; 0: no size rotation. */
  readonly maxSize: number;
  readonly maxFiles: number;
  readonly daily: boolean;
  /** Share of successful requests logged (1: all). */
  readonly sampleSuccesses: number;
}

/** `tracing`, normalised. */
export interface TracingConfig {
  readonly propagate: boolean;
  readonly sampleRatio: number;
  readonly serviceName: string;
  readonly otlp: OtlpConfig | null;
}

export interface OtlpConfig {
  /** The full URL spans are POSTed to (`…/v1/traces`). */
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly batchSize: number;
  readonly intervalMs: number;
  readonly maxQueue: number;
}

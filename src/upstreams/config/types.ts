/**
 * An upstream's normalised configuration (`upstreams.<name>`) and the upstream-call
 * policies a route may override: durations in milliseconds, sizes in bytes, percentages
 * as ratios, defaults filled in. Made by normalize.ts next to it.
 */
import type { RedisEndpoint } from '../../config/redis-schema.js';
import type { DiscoveryConfig } from '../../providers/discovery/config/types.js';
import type { CircuitBreakerConfig, UpstreamLimitsConfig } from '../resilience/overload-schema.js';

export interface Timeouts {
  readonly connectMs: number;
  readonly responseMs: number;
  readonly idleMs: number;
  /** 0: no limit. */
  readonly totalMs: number;
}

export interface TargetConfig {
  /** Origin, `http://127.0.0.1:7001` (`h2c://…` for HTTP/2 without TLS). */
  readonly origin: string;
  /** Path prefix from the URL ('' when none). */
  readonly basePath: string;
  readonly weight: number;
}

export type BalancerKind = 'p2c-ewma' | 'round-robin' | 'weighted-round-robin' | 'least-connections' | 'random' | 'consistent-hash';

export interface HealthCheckConfig {
  readonly type: 'http' | 'tcp' | 'grpc';
  /** The service a `grpc` check asks about ('' : the server as a whole). */
  readonly service: string;
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
  /** Hints shared with the other nodes; absent: this node judges alone. */
  readonly shared?: SharedOutlierConfig;
}

/** `outlierDetection.shared`, normalised. */
export interface SharedOutlierConfig {
  readonly endpoint: RedisEndpoint;
  readonly keyPrefix: string;
  readonly timeoutMs: number;
  readonly quorum: number;
  /** This node's vote name; null: the host name and the primary process's id. */
  readonly node: string | null;
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
  /** gRPC status codes (numbers) retried when a target answers with one and no message. */
  readonly grpcStatuses: readonly number[];
}

export interface HedgeConfig {
  /**
   * A fixed delay in ms; `p95` (the upstream's observed p95); `auto` (twice its observed
   * p99, within the retry budget, and the loser of a race reported to outlier detection).
   */
  readonly delay: number | 'p95' | 'auto';
  /** Lower bound of a delay that follows the observed latency. */
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
  /** Where more targets come from while Brisk runs (DNS, a registry…); null: only `targets` and the admin API. */
  readonly discovery: DiscoveryConfig | null;
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
  /** The hedging of the upstream's routes (a route's own `hedge` wins); null: off. */
  readonly hedge: HedgeConfig | null;
  /** Envoy-style hard limits; null when not configured. */
  readonly limits: UpstreamLimitsConfig | null;
  readonly circuitBreaker: CircuitBreakerConfig | null;
  readonly timeouts: Timeouts;
  readonly pool: {
    readonly connections: number;
    readonly keepAliveTimeoutMs: number;
    /** The HTTP/1.1 client of `http://` targets; absent: lean, unless the environment variable BRISK_UPSTREAM_TRANSPORT is undici. */
    readonly transport?: 'undici' | 'lean';
  };
  readonly hostHeader: 'preserve' | 'target';
  /** HTTP/2 to `https://` targets: `auto` (ALPN decides), `on` (HTTP/2 only), `off`. `h2c://` targets always speak HTTP/2. */
  readonly http2: 'auto' | 'on' | 'off';
  /** TLS to `https://` targets; null: the defaults (system CAs, verification on, SNI from the URL). */
  readonly tls: UpstreamTlsConfig | null;
}

/** An upstream's `tls`: files as absolute paths, checked when the config was loaded. */
export interface UpstreamTlsConfig {
  /** CA bundle (PEM) the target's certificate must chain to, instead of the system's CAs. */
  readonly caFile?: string;
  /** Client certificate and key, for targets that require mutual TLS. */
  readonly certFile?: string;
  readonly keyFile?: string;
  /** Verify the target's certificate (chain and name). */
  readonly verify: boolean;
  /** SNI name, and the name the certificate must carry; undefined: the target URL's host. */
  readonly servername?: string;
}

/**
 * The normalised, frozen configuration the runtime is built from: durations in
 * milliseconds, sizes in bytes, defaults filled in, names resolved. Produced by
 * `loadConfig` only after the whole file has validated.
 *
 * The gateway's own sections are defined here; a route's and an upstream's types live
 * with the router and the upstreams (re-exported below, so that a reader of the
 * configuration needs one import).
 */
import type { AlertingConfig } from '../alerting/schema.js';
import type { OverloadConfig } from '../middlewares/shedding/schema.js';
import type { DefaultsConfig, RouteConfig } from '../router/config/types.js';
import type { ConfigStoreConfig } from '../providers/config-store/schema.js';
import type { ServiceConfig } from '../supervisor/config/types.js';
import type { UpstreamConfig } from '../upstreams/config/types.js';

export type { ServiceConfig } from '../supervisor/config/types.js';
export type { DefaultsConfig, FallbackConfig, HeaderEdits, MiddlewareConfigs, RouteConfig, RouteMatch, RouteRewrite, StringMatcher } from '../router/config/types.js';
export type {
  BalancerKind,
  HashConfig,
  HealthCheckConfig,
  HedgeConfig,
  OutlierDetectionConfig,
  RetryConfig,
  TargetConfig,
  Timeouts,
  UpstreamConfig,
  UpstreamTlsConfig,
} from '../upstreams/config/types.js';

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
  /** A plain listener also takes HTTP/2 with prior knowledge (h2c) beside HTTP/1.1. */
  readonly h2c: boolean;
  /**
   * Who reads a plain listener's HTTP/1.1 connections: `node` (node:http) or `lean` (the lean
   * server in front of node:http, `listeners/h1/`); absent: the environment variable BRISK_SERVER_TRANSPORT, else node.
   */
  readonly transport?: 'node' | 'lean';
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
  /** Data-plane worker processes (`workers`); absent: 1, one process. `auto` is resolved at start (src/workers/cpus.ts). */
  readonly workers?: number | 'auto';
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
  /** The gateway-wide `defaults`, normalised, when the file has them; routes already hold what they take from them. */
  readonly defaults?: DefaultsConfig;
  /** Alert rules, receivers and the delivery queue; absent when the file has no `alerts` (the engine then runs the default rules). */
  readonly alerts?: AlertingConfig;
  /** Services Brisk runs (the supervisor); empty or absent when the file has none. */
  readonly services?: Readonly<Record<string, ServiceConfig>>;
  /** Routes, upstreams and defaults from etcd (`configStore`); absent when the file has none. */
  readonly configStore?: ConfigStoreConfig;
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

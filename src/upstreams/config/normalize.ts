/**
 * Checks and normalisation of an upstream (`upstreams.<name>`) and of the upstream-call
 * policies a route may override: target URLs, the balancer's hash key, health checks,
 * outlier detection, retries, hedging and timeouts, into milliseconds, bytes and ratios.
 * Problems go to the `ConfigCheck` of the file, with absolute paths.
 */
import { resolve } from 'node:path';
import { isHeaderName, isHeaderValue } from '../../config/addresses.js';
import { dedupe, putOwn, type ConfigCheck } from '../../config/normalize-kit.js';
import type { PathProblem, PathSegment } from '../../config/positions.js';
import { normalizeRedisConnection } from '../../config/redis-schema.js';
import { GRPC_STATUS, type GrpcStatusName } from '../../core/grpc.js';
import { normalizeDiscovery } from '../../providers/discovery/config/normalize.js';
import { normalizeCircuitBreaker, normalizeUpstreamLimits } from '../resilience/overload-schema.js';
import { UPSTREAM_DEFAULTS } from './defaults.js';
import { parseTargetUrl } from './targets.js';
import type { RawHedge, RawRetry, RawTimeouts, RawUpstream } from './schema.js';
import type { HashConfig, HealthCheckConfig, HedgeConfig, OutlierDetectionConfig, RetryConfig, SharedOutlierConfig, TargetConfig, Timeouts, UpstreamConfig, UpstreamTlsConfig } from './types.js';

/**
 * Normalises the upstreams of a file, by name, in file order.
 *
 * @example
 * const upstreams = normalizeUpstreams(check, raw.upstreams);
 */
export function normalizeUpstreams(check: ConfigCheck, raw: Readonly<Record<string, RawUpstream>>): Record<string, UpstreamConfig> {
  const upstreams: Record<string, UpstreamConfig> = {};
  for (const [name, upstream] of Object.entries(raw)) putOwn(upstreams, name, normalizeUpstream(check, name, upstream));
  return upstreams;
}

/** Normalises one schema-valid upstream; problems are reported under `upstreams.<name>`. */
export function normalizeUpstream(check: ConfigCheck, name: string, raw: RawUpstream): UpstreamConfig {
  const d = UPSTREAM_DEFAULTS;
  const at: PathSegment[] = ['upstreams', name];
  return {
    name,
    targets: targets(check, at, raw.targets ?? []),
    discovery: raw.discovery === undefined ? null : normalizeDiscovery(check, [...at, 'discovery'], name, raw.discovery),
    balancer: raw.balancer ?? d.balancer,
    timeouts: normalizeTimeouts(check, [...at, 'timeouts'], raw.timeouts, d.timeouts),
    pool: {
      connections: raw.pool?.connections ?? d.pool.connections,
      keepAliveTimeoutMs: check.duration([...at, 'pool', 'keepAliveTimeout'], raw.pool?.keepAliveTimeout, d.pool.keepAliveTimeoutMs),
      ...(raw.pool?.transport === undefined ? {} : { transport: raw.pool.transport }),
    },
    hostHeader: raw.hostHeader ?? d.hostHeader,
    http2: http2(check, at, raw),
    tls: raw.tls === undefined ? null : tls(check, [...at, 'tls'], raw),
    hash: hash(check, at, raw),
    stickySession:
      raw.stickySession === undefined
        ? null
        : {
            cookie: raw.stickySession.cookie ?? d.sticky.cookie,
            ttlMs: check.duration([...at, 'stickySession', 'ttl'], raw.stickySession.ttl, d.sticky.ttlMs),
          },
    slowStartMs: check.duration([...at, 'slowStart'], raw.slowStart, d.slowStartMs),
    drainTimeoutMs: check.duration([...at, 'drainTimeout'], raw.drainTimeout, d.drainTimeoutMs),
    healthCheck: raw.healthCheck === undefined ? null : healthCheck(check, [...at, 'healthCheck'], raw.healthCheck),
    outlierDetection: outlier(check, [...at, 'outlierDetection'], raw.outlierDetection),
    panicThreshold: raw.panicThreshold === undefined ? d.panicThreshold : raw.panicThreshold / 100,
    retry: normalizeRetry(check, [...at, 'retry'], raw.retry, d.retry),
    hedge: normalizeHedge(check, [...at, 'hedge'], raw.hedge ?? d.hedge.mode),
    limits: raw.limits === undefined ? null : (check.adopt([...at, 'limits'], normalizeUpstreamLimits(raw.limits)) ?? null),
    circuitBreaker: raw.circuitBreaker === undefined ? null : (check.adopt([...at, 'circuitBreaker'], normalizeCircuitBreaker(raw.circuitBreaker)) ?? null),
  };
}

function targets(check: ConfigCheck, at: readonly PathSegment[], raw: NonNullable<RawUpstream['targets']>): TargetConfig[] {
  const seen = new Map<string, number>();
  return raw.map((t, i): TargetConfig => {
    const path = [...at, 'targets', i, 'url'];
    const weight = t.weight ?? UPSTREAM_DEFAULTS.weight;
    const url = parseTargetUrl(t.url);
    if (url === null) {
      check.problem(path, `invalid URL ${JSON.stringify(t.url)}`);
      return { origin: '', basePath: '', weight };
    }
    for (const problem of url.problems) check.problem(path, problem);
    const basePath = url.basePath;
    const key = url.origin + basePath;
    const earlier = seen.get(key);
    if (earlier !== undefined) check.warn(path, `target ${JSON.stringify(t.url)} is listed twice (also targets.${earlier}); use weight instead`);
    else seen.set(key, i);
    return { origin: url.origin, basePath, weight };
  });
}

/** `http2` governs `https://` targets only: `on` with an `http://` target is almost surely meant as `h2c://`. */
function http2(check: ConfigCheck, at: readonly PathSegment[], raw: RawUpstream): 'auto' | 'on' | 'off' {
  const mode = raw.http2 ?? UPSTREAM_DEFAULTS.http2;
  if (mode === 'on' && (raw.targets ?? []).some((t) => t.url.startsWith('http:'))) {
    check.warn([...at, 'http2'], 'http2 applies to https:// targets; http:// targets speak HTTP/1.1. For HTTP/2 without TLS write the target as h2c://host:port');
  }
  return mode;
}

/**
 * An upstream's `tls`: file paths resolved against the config file (the loader checks the
 * files themselves: readable, PEM, a key that belongs to its certificate).
 */
function tls(check: ConfigCheck, at: readonly PathSegment[], raw: RawUpstream): UpstreamTlsConfig {
  const t = raw.tls!;
  if ((t.cert === undefined) !== (t.key === undefined)) {
    check.problem([...at, t.cert === undefined ? 'key' : 'cert'], 'a client certificate needs both cert and key', 'key');
  }
  if (!(raw.targets ?? []).some((target) => target.url.startsWith('https:'))) {
    check.warn(at, 'tls applies to https:// targets only, and this upstream has none in the file', 'key');
  }
  if (t.verify === false && t.ca !== undefined) check.warn([...at, 'ca'], 'ca is not used while verify is false', 'key');
  const result: { -readonly [K in keyof UpstreamTlsConfig]: UpstreamTlsConfig[K] } = { verify: t.verify ?? UPSTREAM_DEFAULTS.tlsVerify };
  if (t.servername !== undefined) result.servername = t.servername;
  if (t.ca !== undefined) result.caFile = resolve(check.baseDir, t.ca);
  if (t.cert !== undefined) result.certFile = resolve(check.baseDir, t.cert);
  if (t.key !== undefined) result.keyFile = resolve(check.baseDir, t.key);
  return result;
}

function hash(check: ConfigCheck, at: readonly PathSegment[], raw: RawUpstream): HashConfig | null {
  const d = UPSTREAM_DEFAULTS;
  const balancer = raw.balancer ?? d.balancer;
  if (raw.hash === undefined) {
    if (balancer === 'consistent-hash') check.problem([...at, 'balancer'], 'the consistent-hash balancer needs a `hash` key, e.g. hash: { source: header, name: x-user-id }');
    return null;
  }
  const h = raw.hash;
  if ((h.source === 'header' || h.source === 'cookie') && h.name === undefined) {
    check.problem([...at, 'hash', 'source'], `hash.source ${h.source} needs hash.name (the ${h.source} to hash on)`);
  }
  if (balancer !== 'consistent-hash') check.warn([...at, 'hash'], `hash is only used by the consistent-hash balancer; this upstream uses ${balancer}`, 'key');
  return {
    source: h.source,
    name: h.source === 'header' ? (h.name ?? '').toLowerCase() : (h.name ?? ''),
    algorithm: h.algorithm ?? d.hash.algorithm,
    boundedLoad: h.boundedLoad ?? d.hash.boundedLoad,
  };
}

function healthCheck(check: ConfigCheck, at: readonly PathSegment[], raw: NonNullable<RawUpstream['healthCheck']>): HealthCheckConfig {
  const d = UPSTREAM_DEFAULTS.healthCheck;
  const statusText = raw.expectedStatus ?? d.expectedStatus;
  const expectedStatus = statusText.split(',').map((part): [number, number] => {
    const [lo, hi] = part.split('-').map((x) => Number(x.trim()));
    return [lo!, hi ?? lo!];
  });
  for (const [lo, hi] of expectedStatus) {
    if (lo < 100 || hi > 599 || lo > hi) check.problem([...at, 'expectedStatus'], `invalid status range ${lo}-${hi}; statuses are 100-599, low before high`);
  }
  const intervalMs = check.duration([...at, 'interval'], raw.interval, d.intervalMs);
  const timeoutMs = check.duration([...at, 'timeout'], raw.timeout, d.timeoutMs);
  if (intervalMs < 50) check.problem([...at, 'interval'], 'a health check interval under 50ms would flood the targets');
  if (raw.bodyContains !== undefined && raw.method === 'HEAD') check.problem([...at, 'bodyContains'], 'a HEAD probe gets no body to search; use method: GET or drop bodyContains', 'key');
  if (raw.bodyContains !== undefined && raw.type === 'tcp') check.problem([...at, 'bodyContains'], 'a tcp probe gets no body to search; use type: http or drop bodyContains', 'key');
  if (raw.type === 'grpc') {
    for (const key of ['path', 'method', 'expectedStatus', 'bodyContains'] as const) {
      if (raw[key] !== undefined) check.problem([...at, key], `a grpc health check asks grpc.health.v1.Health/Check and expects SERVING; ${key} does not apply`, 'key');
    }
  } else if (raw.service !== undefined) check.problem([...at, 'service'], 'service names the gRPC service a type: grpc check asks about; set type: grpc or drop it', 'key');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw.headers ?? {})) {
    if (!isHeaderName(name)) check.problem([...at, 'headers', name], `invalid header name ${JSON.stringify(name)}`, 'key');
    if (!isHeaderValue(value)) check.problem([...at, 'headers', name], 'header values may not contain line breaks or NUL characters');
    headers[name.toLowerCase()] = value;
  }
  const result: { -readonly [K in keyof HealthCheckConfig]: HealthCheckConfig[K] } = {
    type: raw.type ?? d.type,
    service: raw.service ?? '',
    path: raw.path ?? d.path,
    method: raw.method ?? d.method,
    expectedStatus,
    headers,
    intervalMs,
    jitter: raw.jitter === undefined ? d.jitter : raw.jitter / 100,
    timeoutMs,
    unhealthyThreshold: raw.unhealthyThreshold ?? d.unhealthyThreshold,
    healthyThreshold: raw.healthyThreshold ?? d.healthyThreshold,
    initiallyHealthy: raw.initiallyHealthy ?? d.initiallyHealthy,
  };
  if (raw.bodyContains !== undefined) result.bodyContains = raw.bodyContains;
  return result;
}

function outlier(check: ConfigCheck, at: readonly PathSegment[], raw: RawUpstream['outlierDetection']): OutlierDetectionConfig {
  const d = UPSTREAM_DEFAULTS.outlierDetection;
  const rate = raw?.failureRate;
  const baseEjectionMs = check.duration([...at, 'baseEjectionTime'], raw?.baseEjectionTime, d.baseEjectionMs);
  const maxEjectionMs = check.duration([...at, 'maxEjectionTime'], raw?.maxEjectionTime, d.maxEjectionMs);
  if (maxEjectionMs < baseEjectionMs) check.problem([...at, 'maxEjectionTime'], 'maxEjectionTime must not be shorter than baseEjectionTime');
  return {
    consecutive5xx: raw?.consecutive5xx ?? d.consecutive5xx,
    consecutiveGatewayFailures: raw?.consecutiveGatewayFailures ?? d.consecutiveGatewayFailures,
    failureRate:
      rate === undefined
        ? null
        : {
            threshold: (rate.threshold ?? d.failureRateThreshold) / 100,
            minRequests: rate.minRequests ?? d.failureRateMinRequests,
            windowMs: check.duration([...at, 'failureRate', 'window'], rate.window, d.failureRateWindowMs),
          },
    baseEjectionMs,
    maxEjectionMs,
    maxEjectionRatio: raw?.maxEjectionPercent === undefined ? d.maxEjectionRatio : raw.maxEjectionPercent / 100,
    ...(raw?.shared === undefined ? {} : sharedHints(check, [...at, 'shared'], raw.shared)),
  };
}

function sharedHints(check: ConfigCheck, at: readonly PathSegment[], raw: NonNullable<NonNullable<RawUpstream['outlierDetection']>['shared']>): { shared?: SharedOutlierConfig } {
  const problems: PathProblem[] = [];
  const endpoint = normalizeRedisConnection(raw.redis, ['redis'], problems);
  for (const p of problems) check.problem([...at, ...p.path], p.message, p.at);
  const timeoutMs = check.duration([...at, 'redis', 'timeout'], raw.redis.timeout, 500);
  if (endpoint === null) return {};
  return { shared: { endpoint, keyPrefix: raw.redis.keyPrefix ?? 'brisk:outlier:', timeoutMs, quorum: raw.quorum ?? 2, node: raw.node ?? null } };
}

/** A `retry` block over `base` (the defaults for an upstream, the upstream's policy for a route): keys override one by one. */
export function normalizeRetry(check: ConfigCheck, at: readonly PathSegment[], raw: RawRetry | undefined, base: RetryConfig): RetryConfig {
  if (raw === undefined) return base;
  return {
    attempts: raw.attempts ?? base.attempts,
    statuses: raw.statuses === undefined ? base.statuses : dedupe(raw.statuses),
    perTryTimeoutMs: check.duration([...at, 'perTryTimeout'], raw.perTryTimeout, base.perTryTimeoutMs),
    backoffBaseMs: check.duration([...at, 'backoff', 'base'], raw.backoff?.base, base.backoffBaseMs),
    backoffMaxMs: check.duration([...at, 'backoff', 'max'], raw.backoff?.max, base.backoffMaxMs),
    budgetRatio: raw.budget?.ratio === undefined ? base.budgetRatio : raw.budget.ratio / 100,
    budgetMinPerSecond: raw.budget?.minPerSecond ?? base.budgetMinPerSecond,
    maxBufferedBody: check.size([...at, 'maxBufferedBody'], raw.maxBufferedBody, base.maxBufferedBody),
    unsafeMethods: raw.unsafeMethods ?? base.unsafeMethods,
    grpcStatuses: raw.grpcStatuses === undefined ? base.grpcStatuses : dedupe(raw.grpcStatuses.map((n) => GRPC_STATUS[n as GrpcStatusName])),
  };
}

/** The hedging that `auto` means, normalised. */
export const AUTO_HEDGE: HedgeConfig = Object.freeze({ delay: 'auto', minDelayMs: UPSTREAM_DEFAULTS.hedge.autoMinDelayMs });

/** An upstream's or a route's `hedge`: null when `off`. */
export function normalizeHedge(check: ConfigCheck, at: readonly PathSegment[], raw: RawHedge): HedgeConfig | null {
  if (raw === 'off') return null;
  if (raw === 'auto') return AUTO_HEDGE;
  const d = UPSTREAM_DEFAULTS.hedge;
  const delayRaw = raw.delay ?? d.delay;
  if (delayRaw === 'auto') return { delay: 'auto', minDelayMs: check.duration([...at, 'minDelay'], raw.minDelay, d.autoMinDelayMs) };
  return {
    delay: delayRaw === 'p95' ? 'p95' : check.duration([...at, 'delay'], delayRaw, 0),
    minDelayMs: check.duration([...at, 'minDelay'], raw.minDelay, d.p95MinDelayMs),
  };
}

/** A `timeouts` block over `base` (the defaults, or a route's upstream's): keys override one by one. */
export function normalizeTimeouts(check: ConfigCheck, path: readonly PathSegment[], raw: RawTimeouts | undefined, base: Timeouts): Timeouts {
  return {
    connectMs: check.duration([...path, 'connect'], raw?.connect, base.connectMs),
    responseMs: check.duration([...path, 'response'], raw?.response, base.responseMs),
    idleMs: check.duration([...path, 'idle'], raw?.idle, base.idleMs),
    totalMs: check.duration([...path, 'total'], raw?.total, base.totalMs),
  };
}

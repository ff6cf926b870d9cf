/**
 * Checks that need more than the schema (names that refer to each other, addresses,
 * regular expressions, files) and the normalisation into the runtime's `Config`:
 * milliseconds, bytes, defaults, lower-cased names, frozen. Runs only on a
 * configuration that passed the schema, so the raw types can be trusted here.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { addressesOverlap, hostPatternProblem, ipOrCidrProblem, isHeaderName, isHeaderValue, isWildcardHost, parseAddress, type HostPort } from './addresses.js';
import { normalizeAggregate } from '../aggregate/schema.js';
import { normalizeAlerts } from '../alerting/schema.js';
import { normalizeAuth } from '../middlewares/auth/schema.js';
import { normalizeCors } from '../middlewares/cors/schema.js';
import { normalizeIpFilter } from '../middlewares/ip-filter/schema.js';
import { normalizeRateLimit } from '../middlewares/rate-limit/schema.js';
import { normalizeConcurrency, normalizeOverload, normalizePriority } from '../middlewares/shedding/schema.js';
import { normalizeCache } from '../middlewares/cache/schema.js';
import { normalizeCircuitBreaker, normalizeUpstreamLimits } from '../upstreams/resilience/overload-schema.js';
import { DEFAULTS } from './defaults.js';
import { parseTargetUrl } from './targets.js';
import { didYouMean } from './did-you-mean.js';
import type { PathProblem, PathSegment } from './positions.js';
import type { RawConfig, RawHedge, RawHeaderEdits, RawMatch, RawRetry, RawRoute, RawStringMatch, RawUpstream } from './schema.js';
import type {
  AccessLogConfig,
  OtlpConfig,
  TracingConfig,
  CertificateConfig,
  Config,
  FallbackConfig,
  HashConfig,
  HealthCheckConfig,
  HedgeConfig,
  OutlierDetectionConfig,
  RetryConfig,
  HeaderEdits,
  ListenerConfig,
  RouteConfig,
  RouteMatch,
  RouteRewrite,
  StringMatcher,
  TargetConfig,
  Timeouts,
  UpstreamConfig,
} from './types.js';
import { MAX_DURATION_MS, durationMs, sizeBytes } from './units.js';

/** A route needs `upstream` or, for an aggregate route, `aggregate`. */
export const MISSING_UPSTREAM = 'missing required key "upstream" (or "aggregate", for a route that combines several requests)';

/** What the normaliser found: the configuration when there were no problems. */
export interface NormaliseResult {
  readonly config?: Config;
  readonly problems: PathProblem[];
  readonly warnings: PathProblem[];
}

/** Where the configuration came from: for `Config.source` and for resolving relative TLS file paths. */
export interface NormaliseContext {
  /** Absolute path of the file, '' when the text did not come from a file. */
  readonly source: string;
  /** Directory relative paths in the file are resolved against. */
  readonly baseDir: string;
}

type RawTimeouts = NonNullable<RawUpstream['timeouts']>;
type Listen = RawConfig['listen'][number];

/**
 * Checks and normalises a schema-valid configuration. Collects every problem rather
 * than stopping at the first, so that one `brisk check` run shows them all.
 */
export function normalise(raw: RawConfig, context: NormaliseContext): NormaliseResult {
  const n = new Normaliser(context);
  const config = n.run(raw);
  return n.problems.length === 0 ? { config: deepFreeze(config), problems: [], warnings: n.warnings } : { problems: n.problems, warnings: n.warnings };
}

class Normaliser {
  readonly problems: PathProblem[] = [];
  readonly warnings: PathProblem[] = [];
  readonly #context: NormaliseContext;

  constructor(context: NormaliseContext) {
    this.#context = context;
  }

  problem(path: readonly PathSegment[], message: string, at: 'key' | 'value' = 'value'): void {
    this.problems.push({ path, message, at });
  }

  /** Takes a middleware normaliser's result, its problem paths made absolute. */
  adopt<T>(at: readonly PathSegment[], result: { config?: T; problems: readonly PathProblem[]; warnings: readonly PathProblem[] }): T | undefined {
    for (const p of result.problems) this.problems.push({ ...p, path: [...at, ...p.path] });
    for (const w of result.warnings) this.warnings.push({ ...w, path: [...at, ...w.path] });
    return result.config;
  }

  warn(path: readonly PathSegment[], message: string, at: 'key' | 'value' = 'value'): void {
    this.warnings.push({ path, message, at });
  }

  run(raw: RawConfig): Config {
    const listen = this.listeners(raw.listen);
    const admin = this.admin(raw);
    const limitsRaw = raw.limits ?? {};
    const limits = {
      maxHeaderSize: this.size(['limits', 'maxHeaderSize'], limitsRaw.maxHeaderSize, DEFAULTS.limits.maxHeaderSize),
      maxHeaderCount: limitsRaw.maxHeaderCount ?? DEFAULTS.limits.maxHeaderCount,
      headersTimeoutMs: this.duration(['limits', 'headersTimeout'], limitsRaw.headersTimeout, DEFAULTS.limits.headersTimeoutMs),
      requestTimeoutMs: this.duration(['limits', 'requestTimeout'], limitsRaw.requestTimeout, DEFAULTS.limits.requestTimeoutMs),
      keepAliveTimeoutMs: this.duration(['limits', 'keepAliveTimeout'], limitsRaw.keepAliveTimeout, DEFAULTS.limits.keepAliveTimeoutMs),
      maxBodySize: this.size(['limits', 'maxBodySize'], limitsRaw.maxBodySize, DEFAULTS.limits.maxBodySize),
    };
    const upstreams: Record<string, UpstreamConfig> = {};
    for (const [name, upstream] of Object.entries(raw.upstreams)) putOwn(upstreams, name, this.upstream(name, upstream));
    const routes = this.routes(raw.routes, upstreams, limits.maxBodySize);
    const used = new Set(routes.flatMap((r) => [r.upstream, ...(r.aggregate?.parts.map((p) => p.upstream) ?? [])]));
    for (const name of Object.keys(upstreams)) {
      if (!used.has(name)) this.warn(['upstreams', name], `upstream ${JSON.stringify(name)} is not used by any route`, 'key');
    }
    const logging = raw.logging ?? {};
    // Absent: the engine runs the default rules with no receivers (see src/alerting/index.ts).
    const alerts = raw.alerts === undefined ? undefined : this.adopt(['alerts'], normalizeAlerts(raw.alerts, this.#context.baseDir));
    return {
      source: this.#context.source,
      listen,
      ...(admin === undefined ? {} : { admin }),
      limits,
      proxy: this.proxy(raw.proxy ?? {}),
      overload: raw.overload === undefined ? null : (this.adopt(['overload'], normalizeOverload(raw.overload)) ?? null),
      logging: {
        // The schema builds the level union from a list, so its static type is only `string`; it validated as one of the levels.
        level: (logging.level as Config['logging']['level'] | undefined) ?? DEFAULTS.logging.level,
        format: logging.format ?? DEFAULTS.logging.format,
        accessLog: logging.accessLog === undefined ? DEFAULTS.logging.accessLog : logging.accessLog !== false,
        access: this.accessLog(logging.accessLog),
      },
      ...(raw.metrics === undefined ? {} : { metrics: { enabled: raw.metrics.enabled ?? true } }),
      tracing: this.tracing(raw.tracing ?? {}),
      upstreams,
      routes,
      ...(alerts === undefined ? {} : { alerts }),
    };
  }

  // ---- listeners -------------------------------------------------------------------

  listeners(list: readonly Listen[]): ListenerConfig[] {
    const parsed: Array<{ index: number; address: string; hostPort: HostPort }> = [];
    const names = new Map<string, number>();
    const result = list.map((listener, i): ListenerConfig => {
      const hostPort = this.address(['listen', i, 'address'], listener.address);
      if (hostPort !== undefined) {
        const clash = parsed.find((p) => addressesOverlap(p.hostPort, hostPort));
        if (clash !== undefined) this.problem(['listen', i, 'address'], overlapMessage(`listener address ${JSON.stringify(listener.address)}`, clash.hostPort, hostPort, `listen.${clash.index}`));
        parsed.push({ index: i, address: listener.address, hostPort });
      }
      if (listener.name !== undefined) {
        const earlier = names.get(listener.name);
        if (earlier !== undefined) this.problem(['listen', i, 'name'], `listener name ${JSON.stringify(listener.name)} is already used by listen.${earlier}`);
        else names.set(listener.name, i);
      }
      const base = { name: listener.name ?? listener.address.trim(), host: hostPort?.host ?? '', port: hostPort?.port ?? 0 };
      if (listener.tls === undefined) return base;
      const tls = listener.tls;
      const certificates = tls.certificates.map((c, j): CertificateConfig => {
        const at: PathSegment[] = ['listen', i, 'tls', 'certificates', j];
        const certFile = this.file([...at, 'cert'], c.cert, 'certificate');
        const keyFile = this.file([...at, 'key'], c.key, 'key');
        if (c.serverNames === undefined) return { certFile, keyFile };
        const serverNames = dedupe(c.serverNames.map((s, k) => this.hostPattern([...at, 'serverNames', k], s)));
        return { certFile, keyFile, serverNames };
      });
      return { ...base, tls: { certificates, http2: tls.http2 ?? DEFAULTS.tls.http2, minVersion: tls.minVersion ?? DEFAULTS.tls.minVersion } };
    });
    this.#listenerAddresses = parsed;
    return result;
  }

  #listenerAddresses: Array<{ index: number; address: string; hostPort: HostPort }> = [];

  admin(raw: RawConfig): Config['admin'] {
    if (raw.admin === undefined) return undefined;
    const path = ['admin', 'address'];
    const hostPort = this.address(path, raw.admin.address);
    if (hostPort === undefined) return { host: '', port: 0 };
    const clash = this.#listenerAddresses.find((p) => addressesOverlap(p.hostPort, hostPort));
    if (clash !== undefined) this.problem(path, overlapMessage(`admin address ${JSON.stringify(raw.admin.address)}`, clash.hostPort, hostPort, `listen.${clash.index}`));
    if (isWildcardHost(hostPort.host)) {
      this.warn(path, `the admin API listens on every interface (${hostPort.host}); keep it on loopback or a private network, such as "127.0.0.1:${hostPort.port}"`);
    }
    const { allowedHosts, token } = raw.admin;
    if (token !== undefined && (token.length < 16 || !/^[\x21-\x7e]+$/.test(token))) {
      this.problem(['admin', 'token'], 'the admin token must be at least 16 printable characters without spaces; make one with `openssl rand -hex 24`');
    }
    return { ...hostPort, ...(allowedHosts === undefined ? {} : { allowedHosts: allowedHosts.map((h) => h.toLowerCase()) }), ...(token === undefined ? {} : { token }) };
  }

  address(path: readonly PathSegment[], address: string): HostPort | undefined {
    const parsed = parseAddress(address);
    if (parsed.ok) return parsed.value;
    this.problem(path, `invalid address ${JSON.stringify(address)}: ${parsed.reason}`);
    return undefined;
  }

  /** Resolves a TLS file against the config's directory and checks that it can be read. */
  file(path: readonly PathSegment[], file: string, what: string): string {
    const absolute = resolve(this.#context.baseDir, file);
    try {
      accessSync(absolute, constants.R_OK);
      if (statSync(absolute).isDirectory()) this.problem(path, `${what} file ${absolute} is a directory`);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') this.problem(path, `${what} file not found: ${absolute}`);
      else if (code === 'EACCES') this.problem(path, `${what} file not readable (permission denied): ${absolute}`);
      else this.problem(path, `${what} file cannot be read: ${absolute}: ${(error as Error).message}`);
    }
    return absolute;
  }

  // ---- upstreams ---------------------------------------------------------------------

  upstream(name: string, raw: RawUpstream): UpstreamConfig {
    const at: PathSegment[] = ['upstreams', name];
    const seen = new Map<string, number>();
    const targets = raw.targets.map((t, i): TargetConfig => {
      const path = [...at, 'targets', i, 'url'];
      const weight = t.weight ?? DEFAULTS.upstream.weight;
      const url = parseTargetUrl(t.url);
      if (url === null) {
        this.problem(path, `invalid URL ${JSON.stringify(t.url)}`);
        return { origin: '', basePath: '', weight };
      }
      for (const problem of url.problems) this.problem(path, problem);
      const basePath = url.basePath;
      const key = url.origin + basePath;
      const earlier = seen.get(key);
      if (earlier !== undefined) this.warn(path, `target ${JSON.stringify(t.url)} is listed twice (also targets.${earlier}); use weight instead`);
      else seen.set(key, i);
      return { origin: url.origin, basePath, weight };
    });
    return {
      name,
      targets,
      balancer: raw.balancer ?? DEFAULTS.upstream.balancer,
      timeouts: this.timeouts([...at, 'timeouts'], raw.timeouts, DEFAULTS.upstream.timeouts),
      pool: {
        connections: raw.pool?.connections ?? DEFAULTS.upstream.pool.connections,
        keepAliveTimeoutMs: this.duration([...at, 'pool', 'keepAliveTimeout'], raw.pool?.keepAliveTimeout, DEFAULTS.upstream.pool.keepAliveTimeoutMs),
      },
      hostHeader: raw.hostHeader ?? DEFAULTS.upstream.hostHeader,
      hash: this.hash(at, raw),
      stickySession:
        raw.stickySession === undefined
          ? null
          : {
              cookie: raw.stickySession.cookie ?? DEFAULTS.upstream.sticky.cookie,
              ttlMs: this.duration([...at, 'stickySession', 'ttl'], raw.stickySession.ttl, DEFAULTS.upstream.sticky.ttlMs),
            },
      slowStartMs: this.duration([...at, 'slowStart'], raw.slowStart, DEFAULTS.upstream.slowStartMs),
      drainTimeoutMs: this.duration([...at, 'drainTimeout'], raw.drainTimeout, DEFAULTS.upstream.drainTimeoutMs),
      healthCheck: raw.healthCheck === undefined ? null : this.healthCheck([...at, 'healthCheck'], raw.healthCheck),
      outlierDetection: this.outlier([...at, 'outlierDetection'], raw.outlierDetection),
      panicThreshold: raw.panicThreshold === undefined ? DEFAULTS.upstream.panicThreshold : raw.panicThreshold / 100,
      retry: this.retry([...at, 'retry'], raw.retry, DEFAULTS.upstream.retry),
      limits: raw.limits === undefined ? null : (this.adopt([...at, 'limits'], normalizeUpstreamLimits(raw.limits)) ?? null),
      circuitBreaker: raw.circuitBreaker === undefined ? null : (this.adopt([...at, 'circuitBreaker'], normalizeCircuitBreaker(raw.circuitBreaker)) ?? null),
    };
  }

  hash(at: readonly PathSegment[], raw: RawUpstream): HashConfig | null {
    const balancer = raw.balancer ?? DEFAULTS.upstream.balancer;
    if (raw.hash === undefined) {
      if (balancer === 'consistent-hash') this.problem([...at, 'balancer'], 'the consistent-hash balancer needs a `hash` key, e.g. hash: { source: header, name: x-user-id }');
      return null;
    }
    const h = raw.hash;
    if ((h.source === 'header' || h.source === 'cookie') && h.name === undefined) {
      this.problem([...at, 'hash', 'source'], `hash.source ${h.source} needs hash.name (the ${h.source} to hash on)`);
    }
    if (balancer !== 'consistent-hash') this.warn([...at, 'hash'], `hash is only used by the consistent-hash balancer; this upstream uses ${balancer}`, 'key');
    return {
      source: h.source,
      name: h.source === 'header' ? (h.name ?? '').toLowerCase() : (h.name ?? ''),
      algorithm: h.algorithm ?? DEFAULTS.upstream.hash.algorithm,
      boundedLoad: h.boundedLoad ?? DEFAULTS.upstream.hash.boundedLoad,
    };
  }

  healthCheck(at: readonly PathSegment[], raw: NonNullable<RawUpstream['healthCheck']>): HealthCheckConfig {
    const d = DEFAULTS.upstream.healthCheck;
    const statusText = raw.expectedStatus ?? d.expectedStatus;
    const expectedStatus = statusText.split(',').map((part): [number, number] => {
      const [lo, hi] = part.split('-').map((x) => Number(x.trim()));
      return [lo!, hi ?? lo!];
    });
    for (const [lo, hi] of expectedStatus) {
      if (lo < 100 || hi > 599 || lo > hi) this.problem([...at, 'expectedStatus'], `invalid status range ${lo}-${hi}; statuses are 100-599, low before high`);
    }
    const intervalMs = this.duration([...at, 'interval'], raw.interval, d.intervalMs);
    const timeoutMs = this.duration([...at, 'timeout'], raw.timeout, d.timeoutMs);
    if (intervalMs < 50) this.problem([...at, 'interval'], 'a health check interval under 50ms would flood the targets');
    if (raw.bodyContains !== undefined && raw.method === 'HEAD') this.problem([...at, 'bodyContains'], 'a HEAD probe gets no body to search; use method: GET or drop bodyContains', 'key');
    if (raw.bodyContains !== undefined && raw.type === 'tcp') this.problem([...at, 'bodyContains'], 'a tcp probe gets no body to search; use type: http or drop bodyContains', 'key');
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(raw.headers ?? {})) {
      if (!isHeaderName(name)) this.problem([...at, 'headers', name], `invalid header name ${JSON.stringify(name)}`, 'key');
      if (!isHeaderValue(value)) this.problem([...at, 'headers', name], 'header values may not contain line breaks or NUL characters');
      headers[name.toLowerCase()] = value;
    }
    const result: { -readonly [K in keyof HealthCheckConfig]: HealthCheckConfig[K] } = {
      type: raw.type ?? d.type,
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

  outlier(at: readonly PathSegment[], raw: RawUpstream['outlierDetection']): OutlierDetectionConfig {
    const d = DEFAULTS.upstream.outlierDetection;
    const rate = raw?.failureRate;
    const baseEjectionMs = this.duration([...at, 'baseEjectionTime'], raw?.baseEjectionTime, d.baseEjectionMs);
    const maxEjectionMs = this.duration([...at, 'maxEjectionTime'], raw?.maxEjectionTime, d.maxEjectionMs);
    if (maxEjectionMs < baseEjectionMs) this.problem([...at, 'maxEjectionTime'], 'maxEjectionTime must not be shorter than baseEjectionTime');
    return {
      consecutive5xx: raw?.consecutive5xx ?? d.consecutive5xx,
      consecutiveGatewayFailures: raw?.consecutiveGatewayFailures ?? d.consecutiveGatewayFailures,
      failureRate:
        rate === undefined
          ? null
          : {
              threshold: (rate.threshold ?? d.failureRateThreshold) / 100,
              minRequests: rate.minRequests ?? d.failureRateMinRequests,
              windowMs: this.duration([...at, 'failureRate', 'window'], rate.window, d.failureRateWindowMs),
            },
      baseEjectionMs,
      maxEjectionMs,
      maxEjectionRatio: raw?.maxEjectionPercent === undefined ? d.maxEjectionRatio : raw.maxEjectionPercent / 100,
    };
  }

  retry(at: readonly PathSegment[], raw: RawRetry | undefined, base: RetryConfig): RetryConfig {
    if (raw === undefined) return base;
    return {
      attempts: raw.attempts ?? base.attempts,
      statuses: raw.statuses === undefined ? base.statuses : dedupe(raw.statuses),
      perTryTimeoutMs: this.duration([...at, 'perTryTimeout'], raw.perTryTimeout, base.perTryTimeoutMs),
      backoffBaseMs: this.duration([...at, 'backoff', 'base'], raw.backoff?.base, base.backoffBaseMs),
      backoffMaxMs: this.duration([...at, 'backoff', 'max'], raw.backoff?.max, base.backoffMaxMs),
      budgetRatio: raw.budget?.ratio === undefined ? base.budgetRatio : raw.budget.ratio / 100,
      budgetMinPerSecond: raw.budget?.minPerSecond ?? base.budgetMinPerSecond,
      maxBufferedBody: this.size([...at, 'maxBufferedBody'], raw.maxBufferedBody, base.maxBufferedBody),
      unsafeMethods: raw.unsafeMethods ?? base.unsafeMethods,
    };
  }

  fallback(at: readonly PathSegment[], raw: NonNullable<RawRoute['fallback']>, upstreams: Readonly<Record<string, UpstreamConfig>>, own: UpstreamConfig | undefined): FallbackConfig {
    if (own !== undefined && own.circuitBreaker === null) {
      this.warn(at, `upstream ${JSON.stringify(own.name)} has no circuitBreaker, so this fallback is never used`, 'key');
    }
    if (raw.upstream !== undefined) {
      if (raw.body !== undefined) this.problem([...at, 'body'], 'a fallback is either another upstream or a static answer, not both', 'key');
      if (!Object.hasOwn(upstreams, raw.upstream)) this.problem([...at, 'upstream'], `unknown upstream ${JSON.stringify(raw.upstream)}${didYouMean(raw.upstream, Object.keys(upstreams))}`);
      return { kind: 'upstream', upstream: raw.upstream };
    }
    return { kind: 'static', status: raw.status ?? 200, body: raw.body ?? '', contentType: raw.contentType ?? 'application/json' };
  }

  hedge(at: readonly PathSegment[], raw: RawHedge): HedgeConfig {
    const d = DEFAULTS.upstream.hedge;
    const delayRaw = raw.delay ?? d.delay;
    return {
      delay: delayRaw === 'p95' ? 'p95' : this.duration([...at, 'delay'], delayRaw, 0),
      minDelayMs: this.duration([...at, 'minDelay'], raw.minDelay, d.minDelayMs),
    };
  }

  timeouts(path: readonly PathSegment[], raw: RawTimeouts | undefined, base: Timeouts): Timeouts {
    return {
      connectMs: this.duration([...path, 'connect'], raw?.connect, base.connectMs),
      responseMs: this.duration([...path, 'response'], raw?.response, base.responseMs),
      idleMs: this.duration([...path, 'idle'], raw?.idle, base.idleMs),
      totalMs: this.duration([...path, 'total'], raw?.total, base.totalMs),
    };
  }

  // ---- routes ------------------------------------------------------------------------

  routes(list: readonly RawRoute[], upstreams: Readonly<Record<string, UpstreamConfig>>, defaultMaxBody: number): RouteConfig[] {
    const names = new Map<string, number>();
    return list.map((route, index): RouteConfig => {
      const at: PathSegment[] = ['routes', index];
      const earlier = names.get(route.name);
      if (earlier !== undefined) this.problem([...at, 'name'], `route name ${JSON.stringify(route.name)} is already used by routes.${earlier}`);
      else names.set(route.name, index);
      const upstream = route.upstream !== undefined && Object.hasOwn(upstreams, route.upstream) ? upstreams[route.upstream] : undefined;
      if (route.upstream !== undefined && route.aggregate !== undefined) {
        this.problem([...at, 'aggregate'], 'a route has either upstream or aggregate, not both', 'key');
      } else if (route.upstream === undefined && route.aggregate === undefined) {
        this.problem([...at, 'upstream'], MISSING_UPSTREAM);
      } else if (route.upstream !== undefined && upstream === undefined) {
        this.problem([...at, 'upstream'], `unknown upstream ${JSON.stringify(route.upstream)}${didYouMean(route.upstream, Object.keys(upstreams))}`);
      }
      const result: {
        -readonly [K in keyof RouteConfig]: RouteConfig[K];
      } = {
        name: route.name,
        index,
        match: this.match([...at, 'match'], route.match),
        upstream: route.upstream ?? '',
        maxBodySize: this.size([...at, 'maxBodySize'], route.maxBodySize, defaultMaxBody),
      };
      if (route.priority !== undefined) result.priority = normalizePriority(route.priority);
      if (route.rewrite !== undefined) result.rewrite = rewrite(route.rewrite);
      if (route.requestHeaders !== undefined) result.requestHeaders = this.headerEdits([...at, 'requestHeaders'], route.requestHeaders);
      if (route.responseHeaders !== undefined) result.responseHeaders = this.headerEdits([...at, 'responseHeaders'], route.responseHeaders);
      // Route timeouts override the upstream's key by key; a route without any keeps the upstream's.
      if (route.timeouts !== undefined) result.timeouts = this.timeouts([...at, 'timeouts'], route.timeouts, upstream?.timeouts ?? DEFAULTS.upstream.timeouts);
      // A route's retry keys override the upstream's one by one.
      if (route.retry !== undefined) result.retry = this.retry([...at, 'retry'], route.retry, upstream?.retry ?? DEFAULTS.upstream.retry);
      if (route.hedge !== undefined) result.hedge = this.hedge([...at, 'hedge'], route.hedge);
      if (route.fallback !== undefined) result.fallback = this.fallback([...at, 'fallback'], route.fallback, upstreams, upstream);
      if (route.concurrency !== undefined) result.concurrency = this.adopt([...at, 'concurrency'], normalizeConcurrency(route.concurrency));
      if (route.aggregate !== undefined) {
        const aggregate = this.adopt([...at, 'aggregate'], normalizeAggregate(route.aggregate, Object.keys(upstreams)));
        if (aggregate !== undefined) result.aggregate = aggregate;
        for (const key of ['rewrite', 'retry', 'hedge', 'fallback'] as const) {
          if (route[key] !== undefined) this.warn([...at, key], `${key} does not apply to an aggregate route (each part uses its upstream's settings and its own timeout)`, 'key');
        }
        for (const key of ['connect', 'response', 'idle'] as const) {
          if (route.timeouts?.[key] !== undefined) this.warn([...at, 'timeouts', key], `only timeouts.total (the whole answer) applies to an aggregate route; each part has its own timeout`, 'key');
        }
      }
      const baseDir = this.#context.baseDir;
      if (route.ipFilter !== undefined) result.ipFilter = this.adopt([...at, 'ipFilter'], normalizeIpFilter(route.ipFilter, baseDir));
      if (route.cors !== undefined) result.cors = this.adopt([...at, 'cors'], normalizeCors(route.cors, baseDir));
      if (route.auth !== undefined) result.auth = this.adopt([...at, 'auth'], normalizeAuth(route.auth, baseDir));
      if (route.rateLimit !== undefined) result.rateLimit = this.adopt([...at, 'rateLimit'], normalizeRateLimit(route.rateLimit));
      if (route.cache !== undefined) result.cache = this.adopt([...at, 'cache'], normalizeCache(route.cache));
      return result;
    });
  }

  match(at: readonly PathSegment[], raw: RawMatch | undefined): RouteMatch {
    if (raw === undefined) return { hosts: [], methods: [], headers: {}, query: {} };
    const hostList = raw.host === undefined ? [] : Array.isArray(raw.host) ? raw.host : [raw.host];
    const hosts = dedupe(hostList.map((h, i) => this.hostPattern(Array.isArray(raw.host) ? [...at, 'host', i] : [...at, 'host'], h)));
    const pathKeys = (['path', 'pathPrefix', 'pathRegex'] as const).filter((k) => raw[k] !== undefined);
    if (pathKeys.length > 1) {
      this.problem([...at, pathKeys[1] as string], `a route matches on one path condition only, but has ${pathKeys.join(' and ')}; keep one`, 'key');
    }
    if (raw.pathRegex !== undefined) this.regex([...at, 'pathRegex'], raw.pathRegex);
    const result: { -readonly [K in keyof RouteMatch]: RouteMatch[K] } = {
      hosts,
      methods: dedupe((raw.methods ?? []).map((m) => m.toUpperCase())),
      headers: this.matchers([...at, 'headers'], raw.headers, true),
      query: this.matchers([...at, 'query'], raw.query, false),
    };
    if (raw.path !== undefined) result.path = raw.path;
    if (raw.pathPrefix !== undefined) result.pathPrefix = raw.pathPrefix;
    if (raw.pathRegex !== undefined) result.pathRegex = raw.pathRegex;
    return result;
  }

  hostPattern(path: readonly PathSegment[], pattern: string): string {
    const reason = hostPatternProblem(pattern.trim());
    if (reason !== undefined) this.problem(path, `invalid host pattern ${reason}`);
    return pattern.trim().toLowerCase();
  }

  regex(path: readonly PathSegment[], source: string): void {
    try {
      new RegExp(source);
    } catch (error) {
      this.problem(path, (error as Error).message);
    }
  }

  matchers(at: readonly PathSegment[], raw: Readonly<Record<string, RawStringMatch>> | undefined, headers: boolean): Record<string, StringMatcher> {
    const result: Record<string, StringMatcher> = {};
    if (raw === undefined) return result;
    const seen = new Map<string, string>();
    for (const [name, value] of Object.entries(raw)) {
      const path = [...at, name];
      const key = headers ? name.toLowerCase() : name;
      if (headers && !isHeaderName(name)) this.problem(path, `invalid header name ${JSON.stringify(name)}`, 'key');
      if (!headers && name === '') this.problem(path, 'a query parameter name must not be empty', 'key');
      const earlier = seen.get(key);
      if (earlier !== undefined) this.problem(path, `header ${JSON.stringify(name)} is already matched as ${JSON.stringify(earlier)} (names are case-insensitive)`, 'key');
      seen.set(key, name);
      putOwn(result, key, this.matcher(path, value));
    }
    return result;
  }

  matcher(path: readonly PathSegment[], raw: RawStringMatch): StringMatcher {
    if (typeof raw === 'string') return { exact: raw };
    const kinds = (['exact', 'prefix', 'regex', 'present'] as const).filter((k) => raw[k] !== undefined);
    if (kinds.length !== 1) {
      this.problem(path, kinds.length === 0 ? 'a matcher needs one of exact, prefix, regex or present' : `a matcher takes one of exact, prefix, regex or present, not ${kinds.join(' and ')}`);
    }
    if (raw.regex !== undefined) this.regex([...path, 'regex'], raw.regex);
    const result: { -readonly [K in keyof StringMatcher]: StringMatcher[K] } = {};
    for (const k of kinds) (result as Record<string, unknown>)[k] = raw[k];
    return result;
  }

  headerEdits(at: readonly PathSegment[], raw: RawHeaderEdits): HeaderEdits {
    const values = (kind: 'set' | 'add'): Record<string, string> => {
      const result: Record<string, string> = {};
      for (const [name, value] of Object.entries(raw[kind] ?? {})) {
        const path = [...at, kind, name];
        if (!isHeaderName(name)) this.problem(path, `invalid header name ${JSON.stringify(name)}`, 'key');
        if (!isHeaderValue(value)) this.problem(path, 'a header value may not contain line breaks or NUL characters');
        if (Object.hasOwn(result, name.toLowerCase())) this.problem(path, `header ${JSON.stringify(name)} is listed twice (names are case-insensitive)`, 'key');
        putOwn(result, name.toLowerCase(), value);
      }
      return result;
    };
    const remove = (raw.remove ?? []).map((name, i) => {
      if (!isHeaderName(name)) this.problem([...at, 'remove', i], `invalid header name ${JSON.stringify(name)}`);
      return name.toLowerCase();
    });
    return { set: values('set'), add: values('add'), remove: dedupe(remove) };
  }

  // ---- proxy -------------------------------------------------------------------------

  // ---- observability ---------------------------------------------------------------

  accessLog(raw: NonNullable<RawConfig['logging']>['accessLog']): AccessLogConfig {
    const o = typeof raw === 'object' ? raw : {};
    const d = DEFAULTS.logging;
    return {
      file: o.file === undefined ? null : resolve(this.#context.baseDir, o.file),
      maxSize: this.size(['logging', 'accessLog', 'rotate', 'maxSize'], o.rotate?.maxSize, d.maxSize),
      maxFiles: o.rotate?.maxFiles ?? d.maxFiles,
      daily: o.rotate?.daily ?? d.daily,
      sampleSuccesses: o.sample?.successes ?? d.sampleSuccesses,
    };
  }

  tracing(raw: NonNullable<RawConfig['tracing']>): TracingConfig {
    const d = DEFAULTS.tracing;
    let otlp: OtlpConfig | null = null;
    if (raw.otlp !== undefined) {
      let url = raw.otlp.endpoint;
      try {
        const parsed = new URL(url);
        // OTEL_EXPORTER_OTLP_ENDPOINT convention: a bare origin gets the signal path.
        if (parsed.pathname === '/' || parsed.pathname === '') url = `${parsed.origin}/v1/traces${parsed.search}`;
      } catch {
        this.problem(['tracing', 'otlp', 'endpoint'], `invalid URL ${JSON.stringify(url)}`);
      }
      otlp = {
        url,
        headers: { ...(raw.otlp.headers ?? {}) },
        timeoutMs: this.duration(['tracing', 'otlp', 'timeout'], raw.otlp.timeout, d.timeoutMs),
        batchSize: raw.otlp.batchSize ?? d.batchSize,
        intervalMs: this.duration(['tracing', 'otlp', 'interval'], raw.otlp.interval, d.intervalMs),
        maxQueue: raw.otlp.maxQueue ?? d.maxQueue,
      };
    }
    // Spans belong to traces: without propagation there is no trace to export.
    if (otlp !== null && raw.propagate === false) this.warn(['tracing', 'otlp'], 'no spans are exported while tracing.propagate is false', 'key');
    return {
      propagate: raw.propagate ?? d.propagate,
      sampleRatio: raw.sampleRatio ?? d.sampleRatio,
      serviceName: raw.serviceName ?? d.serviceName,
      otlp,
    };
  }

  proxy(raw: NonNullable<RawConfig['proxy']>): Config['proxy'] {
    const trustedProxies = (raw.trustedProxies ?? []).map((entry, i) => {
      const reason = ipOrCidrProblem(entry.trim());
      if (reason !== undefined) this.problem(['proxy', 'trustedProxies', i], reason);
      return entry.trim().toLowerCase();
    });
    const via = raw.via ?? DEFAULTS.proxy.via;
    if (typeof via === 'string' && !isHeaderValue(via)) this.problem(['proxy', 'via'], 'the Via pseudonym may not contain line breaks or NUL characters');
    const requestIdHeader = raw.requestIdHeader ?? DEFAULTS.proxy.requestIdHeader;
    if (!isHeaderName(requestIdHeader)) this.problem(['proxy', 'requestIdHeader'], `invalid header name ${JSON.stringify(requestIdHeader)}`);
    return {
      trustedProxies: dedupe(trustedProxies),
      via,
      requestIdHeader: requestIdHeader.toLowerCase(),
      drainTimeoutMs: this.duration(['proxy', 'drainTimeout'], raw.drainTimeout, DEFAULTS.proxy.drainTimeoutMs),
      deadlineHeader: this.deadlineHeader(raw.deadlineHeader ?? DEFAULTS.proxy.deadlineHeader),
    };
  }

  deadlineHeader(value: string | false): string | false {
    if (value === false) return false;
    if (!isHeaderName(value)) this.problem(['proxy', 'deadlineHeader'], `invalid header name ${JSON.stringify(value)}`);
    return value.toLowerCase();
  }

  // ---- units -------------------------------------------------------------------------

  duration(path: readonly PathSegment[], value: string | number | undefined, fallback: number): number {
    if (value === undefined) return fallback;
    const result = durationMs(value);
    if (result === undefined || result > MAX_DURATION_MS) {
      this.problem(path, `duration ${JSON.stringify(value)} is too long; the longest is 24 days ("576h")`);
      return fallback;
    }
    return result;
  }

  size(path: readonly PathSegment[], value: string | number | undefined, fallback: number): number {
    if (value === undefined) return fallback;
    const result = sizeBytes(value);
    if (result === undefined || result > Number.MAX_SAFE_INTEGER) {
      this.problem(path, `size ${JSON.stringify(value)} is too large`);
      return fallback;
    }
    return result;
  }
}

function overlapMessage(subject: string, earlier: HostPort, current: HostPort, where: string): string {
  if (earlier.host === current.host) return `${subject} is already used by ${where}`;
  return `${subject} overlaps ${where} (${formatHostPort(earlier)}): an address on every interface takes the port on all of them`;
}

function formatHostPort(a: HostPort): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

function rewrite(raw: NonNullable<RawRoute['rewrite']>): RouteRewrite {
  const result: { -readonly [K in keyof RouteRewrite]: RouteRewrite[K] } = {};
  if (raw.stripPrefix !== undefined) result.stripPrefix = raw.stripPrefix;
  if (raw.path !== undefined) result.path = raw.path;
  if (raw.addPrefix !== undefined) result.addPrefix = raw.addPrefix;
  return result;
}

function dedupe<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}

/**
 * Sets an own property even for names like `__proto__`, which plain assignment would
 * treat as the prototype: names in a configuration file are user input.
 */
function putOwn<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Freezes an object graph so that no part of the runtime can change a configuration in use. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}

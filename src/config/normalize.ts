/**
 * Checks that need more than the schema and the normalisation into the runtime's
 * `Config`: milliseconds, bytes, defaults, lower-cased names, frozen. Runs only on a
 * configuration that passed the schema, so the raw types can be trusted here.
 *
 * This module runs the sections in order and normalises the gateway's own (listen,
 * admin, limits, proxy, logging, metrics, tracing). Upstreams are normalised in
 * src/upstreams/config/, routes (with their middlewares, through the registry) in
 * src/router/config/, `overload`, `alerts` and `services` by their owners.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { normalizeAlerts } from '../alerting/schema.js';
import type { MiddlewareRegistry } from '../middlewares/descriptor.js';
import { normalizeOverload } from '../middlewares/shedding/schema.js';
import { normalizeDefaults } from '../router/config/defaults.js';
import { normalizeRoutes } from '../router/config/normalize.js';
import { normalizeConfigStore } from '../providers/config-store/schema.js';
import { normalizeServices } from '../supervisor/config/normalize.js';
import { normalizeUpstreams } from '../upstreams/config/normalize.js';
import { addressesOverlap, ipOrCidrProblem, isHeaderName, isHeaderValue, isWildcardHost, parseAddress, type HostPort } from './addresses.js';
import { DEFAULTS } from './defaults.js';
import { ConfigCheck, dedupe, deepFreeze, type NormaliseContext } from './normalize-kit.js';
import type { PathProblem, PathSegment } from './positions.js';
import type { RawConfig } from './schema.js';
import type { AccessLogConfig, CertificateConfig, Config, ListenerConfig, OtlpConfig, TracingConfig, UpstreamTlsConfig } from './types.js';
import { checkTlsFiles } from '../listeners/tls-material.js';
import { checkUpstreamTls } from '../upstreams/tls-material.js';

export type { NormaliseContext } from './normalize-kit.js';

/** What the normaliser found: the configuration when there were no problems. */
export interface NormaliseResult {
  readonly config?: Config;
  readonly problems: PathProblem[];
  readonly warnings: PathProblem[];
}

type Listen = RawConfig['listen'][number];

/**
 * Checks and normalises a schema-valid configuration. Collects every problem rather
 * than stopping at the first, so that one `brisk check` run shows them all. `registry`
 * is the list of route middlewares (the built-in one unless a test brings its own).
 */
export function normalise(raw: RawConfig, context: NormaliseContext, registry?: MiddlewareRegistry): NormaliseResult {
  const check = new ConfigCheck(context);
  const config = new GatewaySections(check).run(raw, registry);
  return check.problems.length === 0 ? { config: deepFreeze(config), problems: [], warnings: check.warnings } : { problems: check.problems, warnings: check.warnings };
}

/** The gateway's own sections, and the order in which all sections are normalised. */
class GatewaySections {
  #listenerAddresses: Array<{ index: number; address: string; hostPort: HostPort }> = [];

  constructor(private readonly check: ConfigCheck) {}

  run(raw: RawConfig, registry: MiddlewareRegistry | undefined): Config {
    const check = this.check;
    const listen = this.listeners(raw.listen);
    const admin = this.admin(raw);
    const limitsRaw = raw.limits ?? {};
    const limits = {
      maxHeaderSize: check.size(['limits', 'maxHeaderSize'], limitsRaw.maxHeaderSize, DEFAULTS.limits.maxHeaderSize),
      maxHeaderCount: limitsRaw.maxHeaderCount ?? DEFAULTS.limits.maxHeaderCount,
      headersTimeoutMs: check.duration(['limits', 'headersTimeout'], limitsRaw.headersTimeout, DEFAULTS.limits.headersTimeoutMs),
      requestTimeoutMs: check.duration(['limits', 'requestTimeout'], limitsRaw.requestTimeout, DEFAULTS.limits.requestTimeoutMs),
      keepAliveTimeoutMs: check.duration(['limits', 'keepAliveTimeout'], limitsRaw.keepAliveTimeout, DEFAULTS.limits.keepAliveTimeoutMs),
      maxBodySize: check.size(['limits', 'maxBodySize'], limitsRaw.maxBodySize, DEFAULTS.limits.maxBodySize),
    };
    const upstreams = normalizeUpstreams(check, raw.upstreams);
    for (const [name, upstream] of Object.entries(upstreams)) if (upstream.tls !== null) this.upstreamTls(name, upstream.tls);
    const defaults = normalizeDefaults(check, raw.defaults, registry);
    const routes = normalizeRoutes(check, raw.routes, upstreams, limits.maxBodySize, registry, defaults);
    const used = new Set(routes.flatMap((r) => [r.upstream, ...(r.aggregate?.parts.map((p) => p.upstream) ?? [])]));
    for (const name of Object.keys(upstreams)) {
      if (!used.has(name)) check.warn(['upstreams', name], `upstream ${JSON.stringify(name)} is not used by any route`, 'key');
    }
    const services = normalizeServices(check, raw.services ?? {}, upstreams);
    const bound = new Set(Object.values(services).map((s) => s.upstream));
    for (const [name, u] of Object.entries(upstreams)) {
      if (u.targets.length === 0 && u.discovery === null && !bound.has(name)) {
        check.problem(['upstreams', name], `upstream ${JSON.stringify(name)} has no targets: list them under targets, find them with discovery, or bind a service Brisk runs to it (services.NAME.upstream)`, 'key');
      }
    }
    const configStore = raw.configStore === undefined ? undefined : check.adopt(['configStore'], normalizeConfigStore(raw.configStore, check.baseDir));
    const logging = raw.logging ?? {};
    // Absent: the engine runs the default rules with no receivers (see src/alerting/index.ts).
    const alerts = raw.alerts === undefined ? undefined : check.adopt(['alerts'], normalizeAlerts(raw.alerts, check.baseDir, Object.keys(services)));
    return {
      source: check.context.source,
      listen,
      ...(admin === undefined ? {} : { admin }),
      limits,
      proxy: this.proxy(raw.proxy ?? {}),
      ...(raw.workers === undefined ? {} : { workers: raw.workers }),
      overload: raw.overload === undefined ? null : (check.adopt(['overload'], normalizeOverload(raw.overload)) ?? null),
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
      ...(raw.defaults === undefined ? {} : { defaults }),
      ...(alerts === undefined ? {} : { alerts }),
      ...(raw.services === undefined ? {} : { services }),
      ...(configStore === undefined ? {} : { configStore }),
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
        if (clash !== undefined) this.check.problem(['listen', i, 'address'], overlapMessage(`listener address ${JSON.stringify(listener.address)}`, clash.hostPort, hostPort, `listen.${clash.index}`));
        parsed.push({ index: i, address: listener.address, hostPort });
      }
      if (listener.name !== undefined) {
        const earlier = names.get(listener.name);
        if (earlier !== undefined) this.check.problem(['listen', i, 'name'], `listener name ${JSON.stringify(listener.name)} is already used by listen.${earlier}`);
        else names.set(listener.name, i);
      }
      const base: ListenerConfig = { name: listener.name ?? listener.address.trim(), host: hostPort?.host ?? '', port: hostPort?.port ?? 0, h2c: listener.h2c ?? DEFAULTS.h2c, ...(listener.transport === undefined ? {} : { transport: listener.transport }) };
      if (listener.tls === undefined) return base;
      if (listener.h2c !== undefined) this.check.warn(['listen', i, 'h2c'], 'h2c applies to listeners without tls; with tls, ALPN offers HTTP/2 (tls.http2)', 'key');
      if (listener.transport !== undefined) this.check.warn(['listen', i, 'transport'], 'transport applies to listeners without tls; a TLS listener is always read by node', 'key');
      const tls = listener.tls;
      const certificates = tls.certificates.map((c, j): CertificateConfig => {
        const at: PathSegment[] = ['listen', i, 'tls', 'certificates', j];
        const unreadable = this.check.problems.length;
        const certFile = this.file([...at, 'cert'], c.cert, 'certificate');
        const keyFile = this.file([...at, 'key'], c.key, 'key');
        if (this.check.problems.length === unreadable) this.check.adopt(at, checkTlsFiles(certFile, keyFile, tls.minVersion ?? DEFAULTS.tls.minVersion));
        if (c.serverNames === undefined) return { certFile, keyFile };
        const serverNames = dedupe(c.serverNames.map((s, k) => this.check.hostPattern([...at, 'serverNames', k], s)));
        return { certFile, keyFile, serverNames };
      });
      return { ...base, tls: { certificates, http2: tls.http2 ?? DEFAULTS.tls.http2, minVersion: tls.minVersion ?? DEFAULTS.tls.minVersion } };
    });
    this.#listenerAddresses = parsed;
    return result;
  }


  /** An upstream's TLS files: readable, then their content (a CA bundle, a client certificate and its key). */
  upstreamTls(name: string, tls: UpstreamTlsConfig): void {
    const at: PathSegment[] = ['upstreams', name, 'tls'];
    const before = this.check.problems.length;
    if (tls.caFile !== undefined) this.file([...at, 'ca'], tls.caFile, 'CA bundle');
    if (tls.certFile !== undefined) this.file([...at, 'cert'], tls.certFile, 'client certificate');
    if (tls.keyFile !== undefined) this.file([...at, 'key'], tls.keyFile, 'client key');
    if (this.check.problems.length === before) this.check.adopt(at, checkUpstreamTls(tls));
  }

  admin(raw: RawConfig): Config['admin'] {
    if (raw.admin === undefined) return undefined;
    const path = ['admin', 'address'];
    const hostPort = this.address(path, raw.admin.address);
    if (hostPort === undefined) return { host: '', port: 0 };
    const clash = this.#listenerAddresses.find((p) => addressesOverlap(p.hostPort, hostPort));
    if (clash !== undefined) this.check.problem(path, overlapMessage(`admin address ${JSON.stringify(raw.admin.address)}`, clash.hostPort, hostPort, `listen.${clash.index}`));
    if (isWildcardHost(hostPort.host)) {
      this.check.warn(path, `the admin API listens on every interface (${hostPort.host}); keep it on loopback or a private network, such as "127.0.0.1:${hostPort.port}"`);
    }
    const { allowedHosts, token } = raw.admin;
    if (token !== undefined && (token.length < 16 || !/^[\x21-\x7e]+$/.test(token))) {
      this.check.problem(['admin', 'token'], 'the admin token must be at least 16 printable characters without spaces; make one with `openssl rand -hex 24`');
    }
    return { ...hostPort, ...(allowedHosts === undefined ? {} : { allowedHosts: allowedHosts.map((h) => h.toLowerCase()) }), ...(token === undefined ? {} : { token }) };
  }

  address(path: readonly PathSegment[], address: string): HostPort | undefined {
    const parsed = parseAddress(address);
    if (parsed.ok) return parsed.value;
    this.check.problem(path, `invalid address ${JSON.stringify(address)}: ${parsed.reason}`);
    return undefined;
  }

  /** Resolves a TLS file against the config's directory and checks that it can be read. */
  file(path: readonly PathSegment[], file: string, what: string): string {
    const absolute = resolve(this.check.baseDir, file);
    try {
      accessSync(absolute, constants.R_OK);
      if (statSync(absolute).isDirectory()) this.check.problem(path, `${what} file ${absolute} is a directory`);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') this.check.problem(path, `${what} file not found: ${absolute}`);
      else if (code === 'EACCES') this.check.problem(path, `${what} file not readable (permission denied): ${absolute}`);
      else this.check.problem(path, `${what} file cannot be read: ${absolute}: ${(error as Error).message}`);
    }
    return absolute;
  }

  // ---- observability ---------------------------------------------------------------

  accessLog(raw: NonNullable<RawConfig['logging']>['accessLog']): AccessLogConfig {
    const o = typeof raw === 'object' ? raw : {};
    const d = DEFAULTS.logging;
    return {
      file: o.file === undefined ? null : resolve(this.check.baseDir, o.file),
      maxSize: this.check.size(['logging', 'accessLog', 'rotate', 'maxSize'], o.rotate?.maxSize, d.maxSize),
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
        this.check.problem(['tracing', 'otlp', 'endpoint'], `invalid URL ${JSON.stringify(url)}`);
      }
      otlp = {
        url,
        headers: { ...(raw.otlp.headers ?? {}) },
        timeoutMs: this.check.duration(['tracing', 'otlp', 'timeout'], raw.otlp.timeout, d.timeoutMs),
        batchSize: raw.otlp.batchSize ?? d.batchSize,
        intervalMs: this.check.duration(['tracing', 'otlp', 'interval'], raw.otlp.interval, d.intervalMs),
        maxQueue: raw.otlp.maxQueue ?? d.maxQueue,
      };
    }
    // Spans belong to traces: without propagation there is no trace to export.
    if (otlp !== null && raw.propagate === false) this.check.warn(['tracing', 'otlp'], 'no spans are exported while tracing.propagate is false', 'key');
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
      if (reason !== undefined) this.check.problem(['proxy', 'trustedProxies', i], reason);
      return entry.trim().toLowerCase();
    });
    const via = raw.via ?? DEFAULTS.proxy.via;
    if (typeof via === 'string' && !isHeaderValue(via)) this.check.problem(['proxy', 'via'], 'the Via pseudonym may not contain line breaks or NUL characters');
    const requestIdHeader = raw.requestIdHeader ?? DEFAULTS.proxy.requestIdHeader;
    if (!isHeaderName(requestIdHeader)) this.check.problem(['proxy', 'requestIdHeader'], `invalid header name ${JSON.stringify(requestIdHeader)}`);
    return {
      trustedProxies: dedupe(trustedProxies),
      via,
      requestIdHeader: requestIdHeader.toLowerCase(),
      drainTimeoutMs: this.check.duration(['proxy', 'drainTimeout'], raw.drainTimeout, DEFAULTS.proxy.drainTimeoutMs),
      deadlineHeader: this.deadlineHeader(raw.deadlineHeader ?? DEFAULTS.proxy.deadlineHeader),
    };
  }

  deadlineHeader(value: string | false): string | false {
    if (value === false) return false;
    if (!isHeaderName(value)) this.check.problem(['proxy', 'deadlineHeader'], `invalid header name ${JSON.stringify(value)}`);
    return value.toLowerCase();
  }
}

function overlapMessage(subject: string, earlier: HostPort, current: HostPort, where: string): string {
  if (earlier.host === current.host) return `${subject} is already used by ${where}`;
  return `${subject} overlaps ${where} (${formatHostPort(earlier)}): an address on every interface takes the port on all of them`;
}

function formatHostPort(a: HostPort): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

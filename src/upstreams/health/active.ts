import { connect as netConnect } from 'node:net';
import { newUndiciAgent, type Agent } from '../../core/undici.js';
import type { HealthCheckConfig } from '../../config/types.js';
import type { Logger } from '../../observability/logger.js';
import { tlsMaterialOptions, type TlsMaterial } from '../h2/connect.js';
import type { Target } from '../target.js';
import { grpcProbe } from './grpc-probe.js';

/** Probes of N targets are spread over this much time so they do not all leave at once. */
const START_SPREAD_MS = 100;
/** The most body a probe reads looking for `bodyContains`: a health page is small, a huge one must not cost memory. */
export const MAX_PROBE_BODY = 64 * 1024;
const USER_AGENT = 'brisk-health-check';

/** The outcome of one probe. */
export interface ProbeResult {
  readonly ok: boolean;
  /** Why it failed (`GET /healthz → 503`, `connect ECONNREFUSED`, `timeout after 1000ms`); null when ok. */
  readonly reason: string | null;
  /** Time from sending the probe to its verdict. */
  readonly durationMs: number;
  /**
   * The target answered (an HTTP status, a gRPC health reply), whatever the verdict: it is
   * alive and says whether it is ready. False for a timeout, a refused or reset connection.
   */
  readonly answered: boolean;
}

/** What the admin API shows about a target's active checks. */
export interface CheckStatus {
  /** `Date.now()` when the last probe with a result was sent; null before the first. */
  readonly lastProbeAt: number | null;
  readonly lastResult: ProbeResult | null;
  readonly consecutiveFailures: number;
  readonly consecutiveSuccesses: number;
}

interface TargetCheck {
  readonly target: Target;
  /** Path sent, `basePath + config.path`. */
  readonly path: string;
  readonly host: string;
  readonly port: number;
  readonly run: () => void;
  /** The next probe. */
  timer: NodeJS.Timeout | null;
  inFlight: AbortController | null;
  /** Bounds the probe in flight. */
  deadline: NodeJS.Timeout | null;
  consecutiveFailures: number;
  consecutiveSuccesses: number;
  lastProbeAt: number | null;
  lastResult: ProbeResult | null;
  /** Results this checker has had (for `firstResults`). */
  results: number;
  /** Added before `start()`: `firstResults` waits for it. */
  readonly awaited: boolean;
}

/**
 * The latest check state of each target, across config versions: targets outlive an
 * upstream version, and so must their streaks. Without this a reload in the middle of a
 * recovery would restart the count, and a target probed long ago would be taken for a
 * never-probed one (which the warming rule admits on its first good probe).
 */
const history = new WeakMap<Target, TargetCheck>();

/** Abort reasons: sentinels, compared by identity, so they are never mistaken for a network error. */
const TIMED_OUT = new Error('health check timed out');
const STOPPED = new Error('health checker stopped');

/**
 * Delay until the next probe of a target: `intervalMs × (1 ± jitter)`, so the probes of
 * many gateways (and of many targets) drift apart instead of lining up.
 *
 * @example
 * nextInterval(2000, 0.1, Math.random); // somewhere in 1800..2200
 */
export function nextInterval(intervalMs: number, jitter: number, random: () => number): number {
  const j = Math.min(Math.max(jitter, 0), 1);
  return intervalMs * (1 + j * (2 * random() - 1));
}

/**
 * Active health checking of one upstream's targets for one config version: each target is
 * probed on a timer (HTTP request or TCP connect) and marked down after
 * `unhealthyThreshold` failed probes in a row, up again after `healthyThreshold` good ones.
 *
 * Probes go through the checker's own undici `Agent`, never the target's traffic pool, so
 * they never queue behind requests, and each uses a fresh connection (`Connection: close`)
 * so a target that stops accepting connections is seen at once rather than hidden behind a
 * kept-alive socket.
 *
 * Warming: a target that has never been probed and is unhealthy (the upstream creates new
 * targets that way unless `initiallyHealthy`) is admitted on its first good probe, as
 * Envoy does; once a probe has failed, the usual `healthyThreshold` applies.
 *
 * One checker per upstream and config version: stop the previous version's checker when
 * the next one starts, or both will probe the shared targets. The targets it probes follow
 * the upstream's live target set: `follow(list)` starts probing targets that joined (at
 * once, when already started) and stops probing those that left.
 *
 * @example
 * const checker = new ActiveHealthChecker('shop', upstream.config.healthCheck, upstream.targets, logger);
 * checker.start();
 * await checker.firstResults(2000); // warm a new upstream before it takes traffic
 * // ... on reload or shutdown:
 * checker.stop();
 */
export class ActiveHealthChecker {
  private readonly checks = new Map<Target, TargetCheck>();
  private readonly agent: Agent;
  /** For `http` probes of `h2c://` targets (HTTP/2 without TLS), made on first use. */
  private h2cAgent: Agent | null = null;
  private readonly headers: Record<string, string>;
  private readonly needle: Buffer | null;
  private started = false;
  private stopped = false;
  /** Targets added before `start()` without a result from this checker yet. */
  private pendingFirst = 0;
  private readonly waiters = new Set<() => void>();
  /**
   * Called with every probe result and the `Date.now()` the probe was sent, for metrics
   * (probe counts and durations). It must not throw.
   */
  onProbe: ((target: Target, result: ProbeResult, sentAt: number) => void) | null = null;

  constructor(
    private readonly upstream: string,
    private readonly config: HealthCheckConfig,
    targets: readonly Target[],
    private readonly logger: Logger,
    /** The upstream's TLS settings, for probes of `https://` targets (null: the defaults). */
    private readonly tls: TlsMaterial | null = null,
  ) {
    const t = config.timeoutMs;
    this.agent = newUndiciAgent({
      connect: { timeout: t, noDelay: true, ...(tls === null ? {} : tlsMaterialOptions(tls)) },
      headersTimeout: t,
      bodyTimeout: t,
      // Every probe asks for `Connection: close`; this only bounds a socket a target kept open anyway.
      keepAliveTimeout: 1000,
      keepAliveMaxTimeout: 1000,
      pipelining: 1,
    });
    const headers: Record<string, string> = { 'user-agent': USER_AGENT };
    for (const [name, value] of Object.entries(config.headers)) {
      // The checker decides connection reuse (always a fresh one), not the config.
      if (name.toLowerCase() !== 'connection') headers[name.toLowerCase()] = value;
    }
    this.headers = headers;
    if (config.bodyContains !== undefined && config.method === 'HEAD') {
      logger.warn({ upstream }, `upstream "${upstream}": healthCheck.bodyContains is ignored with method HEAD (a HEAD answer has no body)`);
    }
    this.needle = config.bodyContains === undefined || config.method === 'HEAD' ? null : Buffer.from(config.bodyContains, 'utf8');

    for (const target of targets) this.add(target);
  }

  /**
   * Probes exactly `targets` from now on: targets not probed yet are added (and probed at
   * once when the checker runs), targets no longer listed stop being probed (a probe in
   * flight is aborted, its result dropped).
   */
  follow(targets: readonly Target[]): void {
    if (this.stopped) return;
    const keep = new Set(targets);
    for (const target of this.checks.keys()) if (!keep.has(target)) this.remove(target);
    for (const target of targets) {
      if (this.checks.has(target)) continue;
      const check = this.add(target);
      if (this.started) this.schedule(check, 0);
    }
  }

  /** Probes every target now (spread over ~100 ms), then on its interval. Does nothing when already started or stopped. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    const n = this.checks.size;
    let i = 0;
    for (const check of this.checks.values()) {
      this.schedule(check, n > 1 ? Math.floor((i * START_SPREAD_MS) / n) : 0);
      i++;
    }
  }

  /**
   * Cancels the timers and the probes in flight; no target is touched afterwards. A stopped
   * checker cannot be started again (make a new one for the next config version).
   */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const check of this.checks.values()) this.cancel(check);
    this.agent.destroy().catch(() => {});
    this.h2cAgent?.destroy().catch(() => {});
    this.releaseWaiters();
  }

  /**
   * Resolves once every target added before `start()` has had at least one probe result from this checker, or
   * after `timeoutMs`, or when the checker stops; never rejects. Used to warm a new
   * upstream before it takes traffic (call `start()` first, or it can only time out). Its
   * timer is not unref'd, so the await always settles.
   */
  firstResults(timeoutMs: number): Promise<void> {
    if (this.pendingFirst === 0 || this.stopped) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.add(done);
    });
  }

  /** The target's check state, for the admin API; undefined for a target this checker does not probe. */
  status(target: Target): CheckStatus | undefined {
    const c = this.checks.get(target);
    if (c === undefined) return undefined;
    return {
      lastProbeAt: c.lastProbeAt,
      lastResult: c.lastResult,
      consecutiveFailures: c.consecutiveFailures,
      consecutiveSuccesses: c.consecutiveSuccesses,
    };
  }

  private add(target: Target): TargetCheck {
    const known = this.checks.get(target);
    if (known !== undefined) return known;
    const upstream = this.upstream;
    const url = new URL(target.origin);
    const base = target.basePath.endsWith('/') ? target.basePath.slice(0, -1) : target.basePath;
    const previous = history.get(target);
    const check: TargetCheck = {
      target,
      path: base + this.config.path,
      // URL keeps IPv6 brackets in hostname; net.connect wants them off.
      host: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
      port: url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port),
      run: () => void this.probe(check).catch((err: unknown) => this.logger.error({ upstream, target: target.origin, err }, `upstream "${upstream}": health check of ${target.origin} failed unexpectedly`)),
      timer: null,
      inFlight: null,
      deadline: null,
      consecutiveFailures: previous?.consecutiveFailures ?? 0,
      consecutiveSuccesses: previous?.consecutiveSuccesses ?? 0,
      lastProbeAt: previous?.lastProbeAt ?? null,
      lastResult: previous?.lastResult ?? null,
      results: 0,
      awaited: !this.started,
    };
    this.checks.set(target, check);
    history.set(target, check);
    if (check.awaited) this.pendingFirst++;
    return check;
  }

  private remove(target: Target): void {
    const check = this.checks.get(target);
    if (check === undefined) return;
    this.checks.delete(target);
    this.cancel(check);
    if (check.awaited && check.results === 0 && --this.pendingFirst === 0) this.releaseWaiters();
  }

  /** Clears the check's timers and aborts its probe in flight. */
  private cancel(check: TargetCheck): void {
    if (check.timer !== null) clearTimeout(check.timer);
    check.timer = null;
    if (check.deadline !== null) clearTimeout(check.deadline);
    check.deadline = null;
    check.inFlight?.abort(STOPPED);
    check.inFlight = null;
  }

  private schedule(check: TargetCheck, delayMs: number): void {
    check.timer = setTimeout(check.run, delayMs);
    check.timer.unref();
  }

  private async probe(check: TargetCheck): Promise<void> {
    check.timer = null;
    // A timer is the only way in and each probe schedules the next only when done, so two
    // probes of one target never overlap; this guard is for a timer that fired during stop().
    if (this.stopped || check.inFlight !== null) return;
    const controller = new AbortController();
    check.inFlight = controller;
    const { timeoutMs } = this.config;
    const startedAt = Date.now();
    // undici's timeouts apply per phase (connect, headers, body); this one bounds the whole probe.
    const deadline = setTimeout(() => controller.abort(TIMED_OUT), timeoutMs);
    deadline.unref();
    check.deadline = deadline;
    let reason: string | null;
    let answered = false;
    try {
      const { type } = this.config;
      if (type === 'tcp') reason = await this.tcpProbe(check, controller.signal);
      else if (type === 'grpc') reason = await grpcProbe(check.target.origin, check.target.basePath, this.config.service, this.tls, timeoutMs, controller.signal);
      else reason = await this.httpProbe(check, controller.signal);
      answered = reason === null || type !== 'tcp';
    } catch (err) {
      reason = controller.signal.reason === TIMED_OUT ? `timeout after ${timeoutMs}ms` : describeError(err, timeoutMs);
    } finally {
      clearTimeout(deadline);
    }
    if (this.stopped || controller.signal.reason === STOPPED) return;
    check.inFlight = null;
    check.deadline = null;
    const finishedAt = Date.now();
    const next = nextInterval(this.config.intervalMs, this.config.jitter, Math.random);
    // Measured from the probe's start, so a slow target does not stretch the period. Scheduled
    // before recording, so a throwing availability listener cannot end the target's checks.
    this.schedule(check, Math.max(0, next - (finishedAt - startedAt)));
    this.record(check, { ok: reason === null, reason, durationMs: finishedAt - startedAt, answered }, startedAt);
  }

  /** Resolves with null when healthy, or the reason it is not. */
  private async httpProbe(check: TargetCheck, signal: AbortSignal): Promise<string | null> {
    const { method } = this.config;
    const origin = check.target.origin;
    const h2c = origin.startsWith('h2c:');
    const agent = h2c ? (this.h2cAgent ??= newUndiciAgent({ allowH2: true, connect: { timeout: this.config.timeoutMs, noDelay: true, useH2c: true } as object, headersTimeout: this.config.timeoutMs, bodyTimeout: this.config.timeoutMs })) : this.agent;
    const res = await agent.request({
      origin: h2c ? `http:${origin.slice(4)}` : origin,
      path: check.path,
      method,
      headers: this.headers,
      signal,
      // `Connection: close`: see the class comment.
      reset: true,
    });
    const status = res.statusCode;
    // undici's body emits an abort error when destroyed before its end; the verdict no longer needs it.
    res.body.on('error', ignore);
    if (!statusExpected(status, this.config.expectedStatus)) {
      res.body.destroy();
      return `${method} ${check.path} → ${status}`;
    }
    if (this.needle === null) {
      // The verdict is known; the connection is not reused, so there is nothing to drain.
      res.body.destroy();
      return null;
    }
    return (await bodyContains(res.body, this.needle)) ? null : `body does not contain ${JSON.stringify(this.config.bodyContains)}`;
  }

  private tcpProbe(check: TargetCheck, signal: AbortSignal): Promise<string | null> {
    return new Promise<string | null>((resolve, reject) => {
      const socket = netConnect({ host: check.host, port: check.port, noDelay: true });
      const onAbort = (): void => {
        socket.destroy();
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('connect', () => {
        signal.removeEventListener('abort', onAbort);
        socket.destroy();
        resolve(null);
      });
      socket.once('error', (err) => {
        signal.removeEventListener('abort', onAbort);
        socket.destroy();
        reject(err);
      });
    });
  }

  private record(check: TargetCheck, result: ProbeResult, probedAt: number): void {
    const { target } = check;
    const neverProbed = check.lastProbeAt === null;
    check.lastProbeAt = probedAt;
    check.lastResult = result;
    this.onProbe?.(target, result, probedAt);
    if (check.results++ === 0 && check.awaited && --this.pendingFirst === 0) this.releaseWaiters();
    const { upstream, config } = this;
    if (result.ok) {
      check.consecutiveSuccesses++;
      check.consecutiveFailures = 0;
      if (target.activeHealthy) return;
      if (neverProbed || check.consecutiveSuccesses >= config.healthyThreshold) {
        target.setActiveHealth(true, null);
        const why = neverProbed ? 'passed its first health check' : `passed ${check.consecutiveSuccesses} health checks in a row`;
        this.logger.info({ upstream, target: target.origin }, `upstream "${upstream}": target ${target.origin} ${why}; routed to again`);
      }
      return;
    }
    check.consecutiveFailures++;
    check.consecutiveSuccesses = 0;
    const reason = result.reason ?? 'failed';
    if (!target.activeHealthy) {
      // Already down: keep the latest reason for the admin API, log only the first of a new target.
      target.setActiveHealth(false, reason);
      if (neverProbed) {
        this.logger.warn({ upstream, target: target.origin, reason }, `upstream "${upstream}": new target ${target.origin} failed its first health check (${reason}); not routed to yet`);
      }
      return;
    }
    if (check.consecutiveFailures >= config.unhealthyThreshold) {
      target.setActiveHealth(false, reason);
      this.logger.warn(
        { upstream, target: target.origin, reason, failures: check.consecutiveFailures },
        `upstream "${upstream}": target ${target.origin} failed ${check.consecutiveFailures} health checks in a row (${reason}); no longer routed to`,
      );
    }
  }

  private releaseWaiters(): void {
    for (const done of [...this.waiters]) done();
  }
}

function ignore(): void {}

function statusExpected(status: number, ranges: HealthCheckConfig['expectedStatus']): boolean {
  for (const [lo, hi] of ranges) if (status >= lo && status <= hi) return true;
  return false;
}

/** Reads at most `MAX_PROBE_BODY` bytes looking for `needle`, across chunk boundaries; stops as soon as found. */
async function bodyContains(body: AsyncIterable<Buffer> & { destroy(): void }, needle: Buffer): Promise<boolean> {
  let seen = Buffer.alloc(0);
  try {
    for await (const chunk of body) {
      const room = MAX_PROBE_BODY - seen.length;
      const piece = chunk.length > room ? chunk.subarray(0, room) : chunk;
      const from = Math.max(0, seen.length - needle.length + 1);
      seen = Buffer.concat([seen, piece]);
      if (seen.indexOf(needle, from) !== -1) return true;
      if (seen.length >= MAX_PROBE_BODY) return false;
    }
    return false;
  } finally {
    // Leaving the loop early already destroys the stream; this covers a throw before the loop.
    body.destroy();
  }
}

/** A short reason in the style of node's own messages: `connect ECONNREFUSED`, `read ECONNRESET`. */
function describeError(err: unknown, timeoutMs: number): string {
  const e = err as { code?: unknown; syscall?: unknown; message?: unknown; name?: unknown } | null;
  const code = e?.code;
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'ETIMEDOUT':
      return `timeout after ${timeoutMs}ms`;
    case 'UND_ERR_SOCKET':
      return `connection reset (${typeof e?.message === 'string' ? e.message : 'socket error'})`;
    default:
      break;
  }
  if (typeof code === 'string') return typeof e?.syscall === 'string' ? `${e.syscall} ${code}` : code;
  if (e?.name === 'HTTPParserError') return 'invalid HTTP response';
  return typeof e?.message === 'string' ? e.message : String(err);
}

import { ERROR_CODES, type ErrorCode } from '../core/errors.js';
import type { ExchangeRecord } from '../core/exchange-record.js';
import type { Ejection, RuntimeView as Runtime, TargetView as Target, UpstreamView as Upstream } from '../core/views.js';
import { GrpcMethods } from './grpc-metrics.js';
import { bucketOf } from './histogram.js';
import { labelString } from './labels.js';
import type { RecentError } from './snapshot.js';
import { WindowSeries } from './window.js';

/**
 * What every finished request leaves behind for metrics and the live stats: counts by
 * route, upstream, target and status class, latency histograms, refusals by error code,
 * cache results, retries and hedges — recorded into plain numbers on records resolved
 * once per config version, and read (folded into Prometheus text, summed over windows)
 * only when someone asks.
 *
 * Label values come only from the config (route and upstream names, target origins) or
 * from fixed sets (status classes, methods, error codes, cache results, ejection
 * reasons): whatever clients send, the number of series is bounded by the config.
 * Records of routes, upstreams and targets that a reload removed are dropped, so their
 * series leave `/metrics` instead of piling up. Targets come and go at runtime too (live
 * target sets): a target that joined is recorded from its first request on (its record is
 * made then), and records follow membership whenever `bind` sees it changed.
 */

/** Label value of "no route / upstream / target" (unmatched or refused before a target). */
export const NONE = '(none)';

export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other'] as const;
export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE', 'OTHER'] as const;
/** Values of `ForwardPlan.cacheStatus` counted as such; anything else is `other`. */
export const CACHE_RESULTS = ['hit', 'miss', 'stale', 'revalidated', 'bypass', 'other'] as const;
export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as ErrorCode[];
/** Outlier-ejection reasons, from the detector's rule (its free-text reason is for logs). */
export const EJECTION_REASONS = ['consecutive_5xx', 'consecutive_gateway_failures', 'failure_rate', 'other'] as const;

const CODE_INDEX: Readonly<Record<string, number>> = Object.fromEntries(ERROR_CODE_LIST.map((c, i) => [c, i]));
const CODE_RATE_LIMITED = CODE_INDEX['BRISK_RATE_LIMITED']!;
const CODE_SHED = CODE_INDEX['BRISK_SHED']!;

export function methodIndex(method: string | undefined): number {
  switch (method) {
    case 'GET':
      return 0;
    case 'HEAD':
      return 1;
    case 'POST':
      return 2;
    case 'PUT':
      return 3;
    case 'DELETE':
      return 4;
    case 'PATCH':
      return 5;
    case 'OPTIONS':
      return 6;
    case 'CONNECT':
      return 7;
    case 'TRACE':
      return 8;
    default:
      return 9;
  }
}

export function statusClassIndex(status: number): number {
  return status >= 100 && status < 600 ? ((status / 100) | 0) - 1 : 5;
}

/** The cache sets its `X-Cache` labels (`HIT`, `MISS`, `EXPIRED`, …); an expired entry fetched again counts as a miss. */
export function cacheIndex(status: string): number {
  switch (status) {
    case 'HIT':
    case 'hit':
      return 0;
    case 'MISS':
    case 'EXPIRED':
    case 'miss':
      return 1;
    case 'STALE':
    case 'stale':
      return 2;
    case 'REVALIDATED':
    case 'revalidated':
      return 3;
    case 'BYPASS':
    case 'bypass':
      return 4;
    default:
      return 5;
  }
}

export function ejectionReasonIndex(reason: string): number {
  if (reason.includes('consecutive gateway failures')) return 1;
  if (reason.includes('consecutive 5xx')) return 0;
  if (reason.startsWith('failure rate')) return 2;
  return 3;
}

export class TargetRec {
  readonly series = new WindowSeries();
  readonly ejections = new Float64Array(EJECTION_REASONS.length);
  /** `upstream="…",target="…"`, escaped once for the exposition. */
  readonly labels: string;
  constructor(
    readonly upstream: string,
    /** `origin` plus the target's base path, if any. */
    readonly label: string,
    /** Null for the "(none)" pseudo-target of an upstream. */
    public target: Target | null,
  ) {
    this.labels = labelString('upstream', upstream, 'target', label);
  }
}

export class UpstreamRec {
  readonly series = new WindowSeries();
  retries = 0;
  hedges = 0;
  /** Requests of this upstream that never reached a target (refused, no healthy target). */
  readonly none: TargetRec;
  readonly labels: string;
  constructor(
    readonly name: string,
    public upstream: Upstream | null,
  ) {
    this.none = new TargetRec(name, NONE, null);
    this.labels = labelString('upstream', name);
  }
}

export class RouteRec {
  readonly series = new WindowSeries();
  readonly codes = new Float64Array(ERROR_CODE_LIST.length);
  readonly methods = new Float64Array(METHODS.length);
  readonly cache = new Float64Array(CACHE_RESULTS.length);
  bytesIn = 0;
  bytesOut = 0;
  /** Requests by target (its upstream implied) and status class. */
  readonly byTarget = new Map<TargetRec, Float64Array>();
  /** gRPC calls by method, from the first one on (null: none yet). */
  grpc: GrpcMethods | null = null;
  /** The last entry used: most routes send to one target most of the time. */
  lastTarget: TargetRec | null = null;
  lastCounts: Float64Array | null = null;
  readonly labels: string;
  constructor(readonly name: string) {
    this.labels = labelString('route', name);
  }

  get rateLimited(): number {
    return this.codes[CODE_RATE_LIMITED]!;
  }

  get shed(): number {
    return this.codes[CODE_SHED]!;
  }

  /** Any cache result recorded at all. */
  get hasCache(): boolean {
    for (const c of this.cache) if (c > 0) return true;
    return false;
  }
}

/** One config version's route, upstream and target records, resolved for the hot path. */
interface Binding {
  readonly rt: Runtime;
  /** `membershipStamp(rt)` when resolved. */
  readonly stamp: number;
  /** By route index (`route.config.index`). */
  readonly routes: readonly RouteRec[];
  readonly upstreams: ReadonlyMap<Upstream, UpstreamRec>;
  /** Grows when a target that joined at runtime gets its first request. */
  readonly targets: Map<Target, TargetRec>;
}

/**
 * A number that grows whenever any upstream of the runtime changes its membership (each
 * set's version only grows, so their sum does too).
 */
export function membershipStamp(rt: Runtime): number {
  let stamp = 0;
  for (const u of rt.upstreams.values()) stamp += u.membershipVersion;
  return stamp;
}

const RECENT_ERRORS = 50;

interface MutableRecentError {
  at: number;
  requestId: string | undefined;
  method: string;
  route: string | null;
  upstream: string | null;
  target: string | null;
  status: number;
  code: string | null;
}

/**
 * Where the proxy reports requests: one raised `inFlight` when a request starts, one
 * `record` when it ends. `RequestRecorder` is the one that counts; a data-plane worker's
 * sink batches the records for the primary's recorder instead (src/workers/).
 */
export interface RequestSink {
  inFlight: number;
  record(ex: ExchangeRecord): void;
}

export class RequestRecorder implements RequestSink {
  /** Requests started and not finished (plain proxied requests; tunnels are not counted). */
  inFlight = 0;
  readonly total = new WindowSeries();
  /** Live records by name / target key, in config order. */
  readonly routes = new Map<string, RouteRec>();
  readonly upstreams = new Map<string, UpstreamRec>();
  readonly targets = new Map<string, TargetRec>();
  readonly noRoute = new RouteRec(NONE);
  readonly noUpstream = new UpstreamRec(NONE, null);
  /** Seconds closed by `roll` (-1: none yet). */
  sec = -1;
  private binding: Binding | null = null;
  /** Bindings of replaced versions whose requests are still finishing. */
  private readonly old = new WeakMap<Runtime, Binding>();
  private readonly recent: MutableRecentError[] = [];
  private recentNext = 0;

  /** The version records are resolved for. */
  get runtime(): Runtime | null {
    return this.binding?.rt ?? null;
  }

  /**
   * Resolves records for a new config version: keeps those of routes, upstreams and
   * targets that are still there (their counters go on), makes new ones, drops the rest.
   */
  bind(rt: Runtime): void {
    const stamp = membershipStamp(rt);
    if (this.binding?.rt === rt && this.binding.stamp === stamp) return;
    if (this.binding !== null && rt.version < this.binding.rt.version) return;
    const routes = new Map<string, RouteRec>();
    const upstreams = new Map<string, UpstreamRec>();
    const targets = new Map<string, TargetRec>();
    const routeByIndex: RouteRec[] = [];
    const upstreamByObj = new Map<Upstream, UpstreamRec>();
    const targetByObj = new Map<Target, TargetRec>();
    for (const u of rt.upstreams.values()) {
      const ur = this.upstreams.get(u.name) ?? new UpstreamRec(u.name, u);
      ur.upstream = u;
      upstreams.set(u.name, ur);
      upstreamByObj.set(u, ur);
      for (const t of u.targets) {
        const tr = this.resolveTarget(t);
        targets.set(t.key, tr);
        targetByObj.set(t, tr);
      }
    }
    for (const r of rt.routes) {
      const rr = this.routes.get(r.name) ?? new RouteRec(r.name);
      routes.set(r.name, rr);
      routeByIndex[r.index] = rr;
    }
    const liveTargets = new Set<TargetRec>(targets.values());
    for (const ur of upstreams.values()) liveTargets.add(ur.none);
    liveTargets.add(this.noUpstream.none);
    for (const rr of [...routes.values(), this.noRoute]) {
      for (const tr of rr.byTarget.keys()) if (!liveTargets.has(tr)) rr.byTarget.delete(tr);
      rr.lastTarget = null;
      rr.lastCounts = null;
    }
    if (this.binding !== null && this.binding.rt !== rt) this.old.set(this.binding.rt, this.binding);
    this.routes.clear();
    for (const [k, v] of routes) this.routes.set(k, v);
    this.upstreams.clear();
    for (const [k, v] of upstreams) this.upstreams.set(k, v);
    this.targets.clear();
    for (const [k, v] of targets) this.targets.set(k, v);
    this.binding = { rt, stamp, routes: routeByIndex, upstreams: upstreamByObj, targets: targetByObj };
  }

  /** The record of a target (kept, or new), pointed at this target object and counting its ejections. */
  private resolveTarget(t: Target): TargetRec {
    let tr = this.targets.get(t.key);
    if (tr === undefined) tr = new TargetRec(t.upstream, t.origin + t.basePath, t);
    tr.target = t;
    const rec = tr;
    t.onEject = (_target: Target, ejection: Ejection) => {
      rec.ejections[ejectionReasonIndex(ejection.reason)]!++;
    };
    return tr;
  }

  /**
   * A target that joined since the binding was resolved, at its first finished request:
   * recorded from now on. A target already removed gets no new record (its requests count
   * for the upstream's "(none)" pseudo-target), so none outlives it.
   */
  private lateTarget(b: Binding, t: Target, ur: UpstreamRec): TargetRec {
    if (b !== this.binding || t.memberState === 'removed') return this.targets.get(t.key) ?? ur.none;
    const tr = this.resolveTarget(t);
    this.targets.set(t.key, tr);
    b.targets.set(t, tr);
    return tr;
  }

  /** A request of an older version: its records where they still exist, detached ones where not. */
  private bindingFor(rt: Runtime): Binding {
    if (this.binding === null || rt.version > this.binding.rt.version) {
      this.bind(rt);
      return this.binding!;
    }
    let b = this.old.get(rt);
    if (b !== undefined) return b;
    const upstreams = new Map<Upstream, UpstreamRec>();
    const targets = new Map<Target, TargetRec>();
    for (const u of rt.upstreams.values()) {
      upstreams.set(u, this.upstreams.get(u.name) ?? new UpstreamRec(u.name, u));
      for (const t of u.targets) targets.set(t, this.targets.get(t.key) ?? new TargetRec(u.name, t.origin, t));
    }
    const routes: RouteRec[] = [];
    for (const r of rt.routes) routes[r.index] = this.routes.get(r.name) ?? new RouteRec(r.name);
    b = { rt, stamp: membershipStamp(rt), routes, upstreams, targets };
    this.old.set(rt, b);
    return b;
  }

  /** The hot path: one finished request. */
  record(ex: ExchangeRecord): void {
    this.inFlight--;
    let b = this.binding;
    if (b === null || b.rt !== ex.runtime) b = this.bindingFor(ex.runtime);
    const status = ex.status;
    const ms = performance.now() - ex.started;
    const bucket = bucketOf(ms);
    const error = status >= 500;
    const route = ex.route;
    const rr = route === null ? this.noRoute : (b.routes[route.index] ?? this.noRoute);
    const up = ex.upstream;
    const ur = up === null ? this.noUpstream : (b.upstreams.get(up) ?? this.noUpstream);
    const t = ex.answeredBy;
    const tr = t === null ? ur.none : (b.targets.get(t) ?? this.lateTarget(b, t, ur));
    this.total.add(bucket, ms, error);
    rr.series.add(bucket, ms, error);
    ur.series.add(bucket, ms, error);
    tr.series.add(bucket, ms, error);
    let counts = rr.lastCounts;
    if (rr.lastTarget !== tr || counts === null) {
      counts = rr.byTarget.get(tr) ?? null;
      if (counts === null) {
        counts = new Float64Array(STATUS_CLASSES.length);
        rr.byTarget.set(tr, counts);
      }
      rr.lastTarget = tr;
      rr.lastCounts = counts;
    }
    counts[statusClassIndex(status)]!++;
    rr.methods[methodIndex(ex.req.method)]!++;
    rr.bytesOut += ex.bytesOut;
    if (ex.contentLength > 0) rr.bytesIn += ex.contentLength;
    const retries = ex.retries;
    if (retries > 0) ur.retries += retries;
    if (ex.hedged) ur.hedges++;
    const code = ex.errorCode;
    if (code !== null) rr.codes[CODE_INDEX[code]!]!++;
    const cache = ex.cacheStatus;
    if (cache !== null) rr.cache[cacheIndex(cache)]!++;
    if (ex.grpc && rr !== this.noRoute) (rr.grpc ??= new GrpcMethods()).add(ex.path, ex.grpcStatus, ms);
    if (error || code !== null) this.noteError(ex, status, code, rr, ur, tr);
  }

  private noteError(ex: ExchangeRecord, status: number, code: ErrorCode | null, rr: RouteRec, ur: UpstreamRec, tr: TargetRec): void {
    let e = this.recent[this.recentNext];
    if (e === undefined) {
      e = { at: 0, requestId: undefined, method: '', route: null, upstream: null, target: null, status: 0, code: null };
      this.recent[this.recentNext] = e;
    }
    this.recentNext = (this.recentNext + 1) % RECENT_ERRORS;
    e.at = Date.now();
    e.requestId = ex.requestId;
    e.method = METHODS[methodIndex(ex.req.method)]!;
    e.route = rr === this.noRoute ? null : rr.name;
    e.upstream = ur === this.noUpstream ? null : ur.name;
    e.target = tr.target === null ? null : tr.label;
    e.status = status;
    e.code = code;
  }

  /** The last errors, newest first (copies). */
  recentErrors(): RecentError[] {
    const out: RecentError[] = [];
    const n = this.recent.length;
    for (let k = 1; k <= n; k++) {
      const e = this.recent[(this.recentNext - k + RECENT_ERRORS) % RECENT_ERRORS];
      if (e !== undefined) out.push({ ...e });
    }
    return out;
  }

  /** Closes the second in progress of every series (once a second). */
  roll(): void {
    const sec = ++this.sec;
    this.total.roll(sec);
    this.noRoute.series.roll(sec);
    this.noUpstream.series.roll(sec);
    this.noUpstream.none.series.roll(sec);
    for (const r of this.routes.values()) r.series.roll(sec);
    for (const u of this.upstreams.values()) {
      u.series.roll(sec);
      u.none.series.roll(sec);
    }
    for (const t of this.targets.values()) t.series.roll(sec);
  }
}

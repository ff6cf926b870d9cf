/**
 * The route cache: an RFC 9111 shared cache in the route pipeline. Hits from memory are
 * answered synchronously; misses go through the normal exchange (balancing, retries,
 * breaker) while a {@link Capture} watches the response stream to the client and stores
 * it when it may. See README.md in this folder for the design and docs/cache.md for users.
 */
import type { ErrorCode } from '../../core/errors.js';
import type { Answer, Middleware, RequestContext, ResponseObserver } from '../../core/middleware.js';

import { connectionListedNames, isResponseHopByHop } from '../../core/hop-by-hop.js';
import { makeEntry, refresh, retentionMs, ttlOf, type StoredResponse } from './entry.js';
import { CONFLICT, currentAge, deltaSeconds, fieldList, headerValue, joinedValue, parseAge, parseHttpDate, requestDirectives, unstorableReason, type Directives, type PolicyOptions } from './freshness.js';
import { MemoryStore, RedisTier, normalizePurgeTarget, type CacheLogger, type PurgeSpec } from './store.js';
import type { CacheConfig } from './schema.js';

export { CacheSchema, normalizeCache, type CacheConfig, type RawCache } from './schema.js';
export type { PurgeSpec } from './store.js';

/** Per-route counters, readable with {@link CacheMiddleware.cacheStats}. */
export interface CacheStats {
  hits: number;
  misses: number;
  stale: number;
  revalidated: number;
  expired: number;
  bypass: number;
  stored: number;
  collapsed: number;
  memoryBytes: number;
  memoryEntries: number;
  redis: 'off' | 'up' | 'down';
}

/** RFC 9110 §9.2.1 safe methods: anything else invalidates (RFC 9111 §4.4). */
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);
/** Request headers that make the request one the cache does not answer (partial or precondition requests). */
const BYPASS_REQUEST = new Set(['range', 'if-match', 'if-unmodified-since', 'if-range']);
/** Fields a 304 carries (RFC 9110 §15.4.5), plus what a cache adds. */
const NOT_MODIFIED_FIELDS = new Set(['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary', 'last-modified', 'cdn-cache-control']);
/**
 * Stored-header updates from a 304 leave these alone (RFC 9111 §3.2: Content-Length; Age
 * is recomputed). Brisk stores the bytes as received, so Content-Type and
 * Content-Encoding are updated like any other field.
 */
const NOT_UPDATED = new Set(['content-length', 'transfer-encoding', 'age']);
/** Request fields whose values are case-insensitive, for Vary matching. */
const CASELESS_VARY = new Set(['accept-encoding', 'accept-language', 'accept-charset', 'accept']);
/** How long a URL whose response could not be stored skips request collapsing (Varnish's hit-for-miss). */
const HIT_FOR_MISS_MS = 10_000;
const HIT_FOR_MISS_MAX = 10_000;

/** How the leader of a collapsed miss ended. */
type FlightOutcome = 'stored' | 'uncacheable' | 'failed';

interface Flight {
  readonly waiters: ((outcome: FlightOutcome | 'timeout') => void)[];
}

/** A live cache middleware, for the admin API. */
export class CacheMiddleware implements Middleware {
  readonly name = 'cache';
  readonly memory: MemoryStore;
  readonly redis: RedisTier | null;
  readonly policyOptions: PolicyOptions;
  private readonly flights = new Map<string, Flight>();
  private readonly hitForMiss = new Map<string, number>();
  /** Keys with a stale-while-revalidate refresh under way. */
  private readonly refreshing = new Set<string>();
  readonly stats = { hits: 0, misses: 0, stale: 0, revalidated: 0, expired: 0, bypass: 0, stored: 0, collapsed: 0 };

  constructor(
    readonly config: CacheConfig,
    readonly routeName: string,
    readonly logger: CacheLogger,
    /** The route answers CORS itself: the target's own CORS fields are dropped, as the proxy drops them. */
    readonly gatewayCors = false,
  ) {
    this.memory = new MemoryStore(config.maxBytes);
    this.policyOptions = { targets: config.targets, defaultTtl: config.defaultTtlS, overrideTtl: config.forceTtlS };
    this.redis = config.redis === null ? null : new RedisTier(config.redis, logger, routeName);
    if (this.redis !== null) this.redis.onRemotePurge = (spec) => this.memory.purge(spec);
  }

  cacheStats(): CacheStats {
    return {
      ...this.stats,
      memoryBytes: this.memory.size,
      memoryEntries: this.memory.count,
      redis: this.redis === null ? 'off' : this.redis.ready ? 'up' : 'down',
    };
  }

  handle(ctx: RequestContext): Answer | null | Promise<Answer | null> {
    const method = ctx.method;
    const raw = ctx.rawHeaders;
    const key = cacheKey(ctx);
    if (method !== 'GET' && method !== 'HEAD') {
      ctx.cacheStatus = 'BYPASS';
      this.stats.bypass++;
      this.addStatus(ctx, 'BYPASS', 'fwd=method');
      if (!SAFE.has(method)) ctx.observeResponse?.(new Invalidation(this, key, ctx));
      return null;
    }
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      if (name.length >= 5 && name.length <= 19 && BYPASS_REQUEST.has(name.toLowerCase())) return this.bypass(ctx, 'fwd=request');
    }
    const reqCC = requestDirectives(raw);
    const variants = this.memory.get(key);
    // A URL known not to be cacheable (hit-for-miss) does not cost a Redis round trip either.
    if (variants !== undefined || this.redis === null || !this.redis.ready || this.skipCollapse(key)) return this.decide(ctx, key, reqCC, variants === undefined ? null : this.select(variants, raw), variants !== undefined, true);
    return this.redis.get(key, this.policyOptions).then((loaded) => {
      for (const e of loaded) this.memory.put(e);
      return this.decide(ctx, key, reqCC, this.select(loaded, raw), loaded.length > 0, true);
    });
  }

  /** The stored variant this request may be answered with (RFC 9111 §4.1), most recent first. */
  private select(variants: readonly StoredResponse[], raw: readonly string[]): StoredResponse | null {
    let best: StoredResponse | null = null;
    for (const e of variants) {
      if (!varyMatches(e, raw)) continue;
      if (best === null || newer(e, best)) best = e;
    }
    return best;
  }

  private decide(ctx: RequestContext, key: string, reqCC: Directives | null, entry: StoredResponse | null, anyVariant: boolean, mayCollapse: boolean): Answer | null | Promise<Answer | null> {
    const raw = ctx.rawHeaders;
    // A request the route's auth middleware authenticated (API key, JWT, Basic, forward
    // auth) is treated as RFC 9111 §3.5 treats one with Authorization, whatever header
    // carried the credentials: its response is personal unless it says otherwise.
    const auth = ctx.identity !== null || headerValue(raw, 'authorization') !== undefined;
    // RFC 9111 §3.5 restricts responses to authorised requests; those are only stored when
    // they allow it (unstorableReason), so whatever is stored may be reused here. Access
    // control itself ran before the cache (auth middleware).
    const onlyIfCached = reqCC?.has('only-if-cached') === true;
    if (entry === null) {
      if (onlyIfCached) return this.onlyIfCachedMiss(ctx);
      return this.miss(ctx, key, reqCC, auth, anyVariant ? 'fwd=vary-miss' : 'fwd=uri-miss', 'MISS', null, mayCollapse);
    }
    const now = Date.now();
    const age = currentAge(entry, now);
    const policy = entry.policy;
    const ttl = policy.lifetime - age;
    const fresh = ttl > 0;
    const reqNoCache = reqCC?.has('no-cache') === true;
    const reqMaxAge = reqCC === null ? undefined : reqCC.has('max-age') ? (deltaSeconds(reqCC.get('max-age')) ?? 0) : undefined;
    const minFresh = reqCC === null ? undefined : reqCC.has('min-fresh') ? (deltaSeconds(reqCC.get('min-fresh')) ?? 0) : undefined;
    const maxStaleRaw = reqCC?.get('max-stale');
    const requestAllows = !reqNoCache && (reqMaxAge === undefined || age <= reqMaxAge) && (minFresh === undefined || ttl >= minFresh);
    if (requestAllows && !policy.noCache) {
      if (fresh) return this.serve(ctx, entry, age, 'HIT', `hit; ttl=${Math.floor(ttl)}`, true);
      // RFC 9111 §5.2.1.2: the client accepts a stale response, unless the origin forbade it.
      if (maxStaleRaw !== undefined && !policy.mustRevalidate) {
        const maxStale = maxStaleRaw === true ? Infinity : (deltaSeconds(maxStaleRaw) ?? 0);
        if (-ttl <= maxStale) return this.serve(ctx, entry, age, 'STALE', `hit; ttl=${Math.floor(ttl)}`, true);
      }
    }
    if (onlyIfCached) return this.onlyIfCachedMiss(ctx);
    // RFC 5861 stale-while-revalidate: stale now, one refresh in the background.
    if (!fresh && !reqNoCache && !policy.mustRevalidate && requestAllowsStale(reqCC)) {
      const swr = policy.swr >= 0 ? policy.swr : this.config.staleWhileRevalidateS;
      if (swr > 0 && -ttl <= swr) {
        this.refreshInBackground(ctx, key, entry);
        return this.serve(ctx, entry, age, 'STALE', `hit; ttl=${Math.floor(ttl)}; fwd=stale`, true);
      }
    }
    const hasValidator = entry.etag !== undefined || entry.lastModified !== undefined;
    const label = reqNoCache ? 'fwd=request' : fresh ? 'fwd=miss' : 'fwd=stale';
    return this.miss(ctx, key, reqCC, auth, label, 'EXPIRED', hasValidator ? entry : null, mayCollapse, entry);
  }

  private onlyIfCachedMiss(ctx: RequestContext): Answer {
    ctx.cacheStatus = 'MISS';
    this.stats.misses++;
    const headers: string[] = [];
    if (this.config.statusHeader !== null) headers.push(this.config.statusHeader, 'MISS');
    headers.push('cache-status', `${this.config.cacheStatusName}; fwd=uri-miss; detail=only-if-cached`);
    return { status: 504, code: 'BRISK_CACHE_ONLY_IF_CACHED', message: 'the request said only-if-cached and no usable response is stored', headers };
  }

  private bypass(ctx: RequestContext, detail: string): null {
    ctx.cacheStatus = 'BYPASS';
    this.stats.bypass++;
    this.addStatus(ctx, 'BYPASS', detail);
    return null;
  }

  /** Adds the status header and Cache-Status to the forwarded response. */
  addStatus(ctx: RequestContext, label: string, detail: string): void {
    const out = (ctx.responseHeaders ??= []);
    if (this.config.statusHeader !== null) out.push(this.config.statusHeader, label);
    out.push('cache-status', `${this.config.cacheStatusName}; ${detail}`);
  }

  /**
   * Goes to the backend for this request, capturing the response. `validate`: a stored
   * entry whose validators are sent, so that a 304 completes it. `fallback`: the stale
   * entry stale-if-error may serve.
   */
  private miss(
    ctx: RequestContext,
    key: string,
    reqCC: Directives | null,
    auth: boolean,
    detail: string,
    label: string,
    validate: StoredResponse | null,
    mayCollapse: boolean,
    fallback: StoredResponse | null = null,
  ): Answer | null | Promise<Answer | null> {
    const reqNoCache = reqCC?.has('no-cache') === true;
    // Request collapsing: one request per URL goes to the backend, the others wait for it.
    if (mayCollapse && this.config.collapse && ctx.method === 'GET' && !auth && !reqNoCache && !isConditional(ctx.rawHeaders) && !this.skipCollapse(key)) {
      const flight = this.flights.get(key);
      if (flight !== undefined) return this.wait(ctx, key, reqCC, flight);
      this.flights.set(key, { waiters: [] });
    } else mayCollapse = false;
    ctx.cacheStatus = label;
    if (label === 'MISS') this.stats.misses++;
    else this.stats.expired++;
    let ourValidatorOnly = false;
    if (validate !== null) ourValidatorOnly = addValidators(ctx.upstreamHeaders, validate);
    const capture = new Capture(this, ctx, key, reqCC?.has('no-store') === true, auth, validate, ourValidatorOnly, fallback ?? validate, mayCollapse, label, detail);
    if (ctx.observeResponse === undefined) {
      // A context without an exchange (unit fixtures): nothing to capture.
      this.release(key, 'failed', mayCollapse);
      return null;
    }
    ctx.observeResponse(capture);
    return null;
  }

  private skipCollapse(key: string): boolean {
    const until = this.hitForMiss.get(key);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.hitForMiss.delete(key);
    return false;
  }

  /** Waits for the request in flight for this URL, then answers from what it stored, or goes to the backend itself. */
  private wait(ctx: RequestContext, key: string, reqCC: Directives | null, flight: Flight): Promise<Answer | null> {
    this.stats.collapsed++;
    return new Promise<Answer | null>((resolve) => {
      let settled = false;
      const timer = setTimeout(() => done('timeout'), this.config.collapseTimeoutMs);
      const done = (outcome: FlightOutcome | 'timeout') => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const variants = this.memory.get(key);
        const entry = variants === undefined ? null : this.select(variants, ctx.rawHeaders);
        // The backend failed the leader: a stale copy within stale-if-error serves the
        // waiters too, rather than sending each of them to a failing backend.
        if (outcome === 'failed' && entry !== null) {
          const stale = this.staleIfErrorAnswer(ctx, entry, Date.now(), 'detail=collapsed-leader-failed');
          if (stale !== null) return resolve(stale);
        }
        // Otherwise the store decides again; not stored (or another variant): this request
        // goes to the backend on its own.
        resolve(this.decide(ctx, key, reqCC, entry, variants !== undefined, false));
      };
      flight.waiters.push(done);
    }).then((a) => a);
  }

  /** Ends the flight for a key: waiters answer from the store, or go to the backend. */
  release(key: string, outcome: FlightOutcome, leader: boolean): void {
    if (!leader) return;
    const flight = this.flights.get(key);
    if (flight === undefined) return;
    this.flights.delete(key);
    if (outcome === 'uncacheable') {
      if (this.hitForMiss.size >= HIT_FOR_MISS_MAX) this.hitForMiss.clear();
      this.hitForMiss.set(key, Date.now() + HIT_FOR_MISS_MS);
    } else if (outcome === 'stored') this.hitForMiss.delete(key);
    for (const w of flight.waiters) w(outcome);
  }

  /**
   * The stale answer stale-if-error allows for this entry now, or null: only for a stale
   * entry (a fresh one was bypassed on purpose), within the response's window or the
   * route default, and never against must-revalidate, proxy-revalidate, s-maxage, no-cache.
   */
  staleIfErrorAnswer(ctx: RequestContext | null, e: StoredResponse, now: number, why: string): Answer | null {
    if (e.policy.mustRevalidate) return null;
    const age = currentAge(e, now);
    const ttl = e.policy.lifetime - age;
    const sie = e.policy.sie >= 0 ? e.policy.sie : this.config.staleIfErrorS;
    if (ttl > 0 || sie <= 0 || -ttl > sie) return null;
    return this.serve(ctx, e, age, 'STALE', `hit; ttl=${Math.floor(ttl)}; fwd=stale; ${why}`, true);
  }

  /** One background request refreshes a stale entry (stale-while-revalidate). */
  private refreshInBackground(ctx: RequestContext, key: string, entry: StoredResponse): void {
    if (this.refreshing.has(key) || ctx.spawnDetached === undefined) return;
    this.refreshing.add(key);
    const headers = ctx.upstreamHeaders.slice();
    const hasValidator = entry.etag !== undefined || entry.lastModified !== undefined;
    const ours = hasValidator ? addValidators(headers, entry) : false;
    const capture = new Capture(this, null, key, false, headerValue(ctx.rawHeaders, 'authorization') !== undefined, hasValidator ? entry : null, ours, entry, false, 'STALE', '');
    capture.requestHeaders = ctx.rawHeaders;
    capture.onDone = () => this.refreshing.delete(key);
    if (!ctx.spawnDetached(headers, capture)) this.refreshing.delete(key);
  }

  /** Builds the answer from a stored response, honouring the client's own conditional request. */
  serve(ctx: RequestContext | null, e: StoredResponse, age: number, label: string, detail: string, validated: boolean, fwdStatus = 0): Answer {
    if (ctx !== null) ctx.cacheStatus = label;
    const s = this.stats;
    if (label === 'HIT') s.hits++;
    else if (label === 'STALE') s.stale++;
    else if (label === 'REVALIDATED') s.revalidated++;
    const headers: string[] = [];
    const notModified = ctx !== null && clientConditionMatches(ctx.rawHeaders, e);
    const strip = validated && label !== 'REVALIDATED' ? e.policy.noCacheFields : null;
    const h = e.headers;
    for (let i = 0; i < h.length; i += 2) {
      const name = h[i]!;
      if (notModified && !NOT_MODIFIED_FIELDS.has(name)) continue;
      if (strip !== null && strip.includes(name)) continue;
      headers.push(name, h[i + 1]!);
    }
    headers.push('age', String(Math.floor(age)));
    if (this.config.statusHeader !== null) headers.push(this.config.statusHeader, label);
    headers.push('cache-status', `${this.config.cacheStatusName}; ${detail}${fwdStatus !== 0 ? `; fwd-status=${fwdStatus}` : ''}`);
    if (notModified) return { status: 304, headers, proxied: true };
    return { status: e.status, headers, body: e.body, proxied: true };
  }

  /** Stores a captured response in both tiers. */
  store(e: StoredResponse): void {
    this.stats.stored++;
    this.memory.put(e);
    if (this.redis !== null) this.redis.put(e, retentionMs(e, Date.now(), { swr: this.config.staleWhileRevalidateS, sie: this.config.staleIfErrorS }));
  }

  /** RFC 9111 §4.4: drops what an unsafe request may have changed, here and on every node. */
  invalidate(key: string): void {
    this.memory.delete(key);
    if (this.redis !== null) void this.redis.purge({ url: key });
  }

  /** Removes what the spec names from both tiers (and, through Redis, from the other nodes' memory). */
  async purge(spec: PurgeSpec): Promise<{ memory: number; redis: number }> {
    const normalized: PurgeSpec = 'url' in spec ? { url: normalizePurgeTarget(spec.url) } : 'prefix' in spec ? { prefix: normalizePurgeTarget(spec.prefix) } : spec;
    const memory = this.memory.purge(normalized);
    const redis = this.redis === null ? 0 : await this.redis.purge(normalized);
    return { memory, redis };
  }

  close(): Promise<void> {
    for (const [key] of this.flights) this.release(key, 'failed', true);
    this.memory.clear();
    return this.redis === null ? Promise.resolve() : this.redis.close();
  }
}

/** A client's conditional request may get a 304 that cannot be stored: it never leads a collapse. */
function isConditional(raw: readonly string[]): boolean {
  return headerValue(raw, 'if-none-match') !== undefined || headerValue(raw, 'if-modified-since') !== undefined;
}

/** stale-while-revalidate is off when the client limits staleness (max-age, min-fresh). */
function requestAllowsStale(reqCC: Directives | null): boolean {
  return reqCC === null || (!reqCC.has('max-age') && !reqCC.has('min-fresh'));
}

/**
 * Puts the stored entry's validators on the upstream request. The client's own
 * conditionals are kept (combined, RFC 9111 §4.3.2), and edited in place: the planner
 * holds indexes into this list. True when only the cache's validators went out.
 */
function addValidators(headers: string[], e: StoredResponse): boolean {
  let inm = -1;
  let ims = -1;
  for (let i = 0; i < headers.length; i += 2) {
    const n = headers[i]!.toLowerCase();
    if (n === 'if-none-match') inm = i;
    else if (n === 'if-modified-since') ims = i;
  }
  if (e.etag !== undefined) {
    if (inm === -1) headers.push('if-none-match', e.etag);
    else {
      headers[inm + 1] = `${headers[inm + 1]!}, ${e.etag}`;
      return false;
    }
    return true;
  }
  if (inm !== -1) return false;
  if (ims === -1) headers.push('if-modified-since', e.lastModified!);
  else headers[ims + 1] = e.lastModified!; // ours is no newer than what the client holds matters less than ours being right
  return true;
}

/** RFC 9110 §13.1.2 weak comparison over an If-None-Match list. */
function etagListMatches(list: string, etag: string): boolean {
  if (list.trim() === '*') return true;
  const opaque = etag.startsWith('W/') ? etag.slice(2) : etag;
  for (const part of list.split(',')) {
    const t = part.trim();
    if ((t.startsWith('W/') ? t.slice(2) : t) === opaque) return true;
  }
  return false;
}

/** RFC 9111 §4.3.2: the client's If-None-Match (else If-Modified-Since) against the stored response. */
function clientConditionMatches(raw: readonly string[], e: StoredResponse): boolean {
  const inm = joinedValue(raw, 'if-none-match');
  if (inm !== undefined) return e.etag !== undefined && etagListMatches(inm, e.etag);
  const ims = headerValue(raw, 'if-modified-since');
  if (ims === undefined || e.status !== 200) return false;
  const since = parseHttpDate(ims);
  if (Number.isNaN(since)) return false;
  const lm = parseHttpDate(e.lastModified ?? headerValue(e.headers, 'date'));
  return !Number.isNaN(lm) && lm <= since;
}

function newer(a: StoredResponse, b: StoredResponse): boolean {
  const da = Number.isNaN(a.dateValue) ? a.responseTime : a.dateValue;
  const db = Number.isNaN(b.dateValue) ? b.responseTime : b.dateValue;
  return da === db ? a.responseTime > b.responseTime : da > db;
}

/** The cache key: host (lower case) + path + query. */
export function cacheKey(ctx: RequestContext): string {
  const raw = ctx.rawHeaders;
  let host = '';
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]!;
    if ((n.length === 4 || n.length === 10) && (n.toLowerCase() === 'host' || n === ':authority')) {
      host = raw[i + 1]!.toLowerCase();
      break;
    }
  }
  return ctx.query === '' ? host + ctx.path : `${host}${ctx.path}?${ctx.query}`;
}

/** A request header's value as Vary compares it: lines combined, list members trimmed, case folded where the field is caseless. */
export function varyValue(raw: readonly string[], name: string): string | null {
  const v = joinedValue(raw, name);
  if (v === undefined) return null;
  const norm = v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .join(',');
  return CASELESS_VARY.has(name) ? norm.toLowerCase() : norm;
}

function varyMatches(e: StoredResponse, raw: readonly string[]): boolean {
  const names = e.varyNames;
  if (names === null) return true;
  for (let i = 0; i < names.length; i++) if (varyValue(raw, names[i]!) !== e.varyValues[i]) return false;
  return true;
}

/** Response headers as the cache keeps them: lower-case names, no hop-by-hop fields. */
function storedHeaders(rawHeaders: Buffer[], dropCors: boolean): { headers: string[]; age: string | undefined } {
  const out: string[] = [];
  let connection: string | undefined;
  let age: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toString('latin1').toLowerCase();
    const value = rawHeaders[i + 1]!.toString('latin1');
    if (isResponseHopByHop(name)) {
      if (name === 'connection') connection = connection === undefined ? value : `${connection}, ${value}`;
      continue;
    }
    if (name === 'content-length') continue;
    if (dropCors && name.startsWith('access-control-')) continue;
    if (name === 'age') {
      age ??= value;
      continue;
    }
    out.push(name, value);
  }
  if (connection !== undefined) {
    const listed = connectionListedNames(connection);
    if (listed !== null) {
      for (let i = out.length - 2; i >= 0; i -= 2) if (listed.has(out[i]!)) out.splice(i, 2);
    }
  }
  return { headers: out, age };
}

/** Watches an unsafe request's response: a non-error one invalidates the URL and the URLs it names (RFC 9111 §4.4). */
class Invalidation implements ResponseObserver {
  constructor(
    private readonly cache: CacheMiddleware,
    private readonly key: string,
    private readonly ctx: RequestContext,
  ) {}
  onHead(status: number, _text: string, rawHeaders: Buffer[]): null {
    if (status < 200 || status >= 400) return null;
    this.cache.invalidate(this.key);
    const slash = this.key.indexOf('/');
    const host = slash === -1 ? this.key : this.key.slice(0, slash);
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toString('latin1').toLowerCase();
      if (name !== 'location' && name !== 'content-location') continue;
      try {
        const url = new URL(rawHeaders[i + 1]!.toString('latin1'), `http://${host}${this.ctx.path}`);
        // Only the same origin: a response must not be able to purge other sites' entries.
        if (url.host.toLowerCase() === host) this.cache.invalidate(host + url.pathname + url.search);
      } catch {
        // Not a URL: nothing to invalidate.
      }
    }
    return null;
  }
  onData(): void {}
  onError(): null {
    return null;
  }
  onEnd(): void {}
}

/**
 * Watches a forwarded request's response as it streams to the client, and stores it
 * when RFC 9111 allows. Buffers at most `maxObjectSize` of the body; past it the
 * response keeps streaming and is not stored.
 */
class Capture implements ResponseObserver {
  private readonly requestTime = Date.now();
  private entry: StoredResponse | null = null;
  private chunks: Buffer[] | null = null;
  private bytes = 0;
  private stored = false;
  /** The response was judged and found not storable (not merely failed). */
  private uncacheable = false;
  requestHeaders: readonly string[];
  onDone: (() => void) | null = null;

  constructor(
    private readonly cache: CacheMiddleware,
    private readonly ctx: RequestContext | null,
    private readonly key: string,
    private readonly requestNoStore: boolean,
    private readonly auth: boolean,
    /** The stored entry whose validators were sent. */
    private readonly validating: StoredResponse | null,
    private readonly ourValidatorOnly: boolean,
    /** The stale entry stale-if-error may serve. */
    private readonly fallback: StoredResponse | null,
    private readonly leader: boolean,
    private readonly label: string,
    private readonly detail: string,
  ) {
    this.requestHeaders = ctx === null ? [] : ctx.rawHeaders;
  }

  onHead(status: number, text: string, rawHeaders: Buffer[]): Answer | null {
    const cache = this.cache;
    const now = Date.now();
    if (status === 304 && this.validating !== null) {
      const updated = this.update(rawHeaders, now);
      if (updated !== null) return cache.serve(this.ctx, updated, currentAge(updated, now), 'REVALIDATED', this.detail === '' ? 'fwd=stale' : this.detail, false, 304);
    }
    if (status >= 500) {
      const stale = this.staleIfError(now, `fwd-status=${status}`);
      if (stale !== null) return stale;
    }
    // RFC 9111 §4.3.5: a HEAD response freshens (or invalidates) the stored GET it describes.
    if (status === 200 && this.fallback !== null && this.ctx?.method === 'HEAD') this.update(rawHeaders, now, this.fallback, true);
    const { headers, age } = storedHeaders(rawHeaders, this.cache.gatewayCors);
    // RFC 9110 §6.6.1: a cache adds the Date the origin should have sent.
    if (headerValue(headers, 'date') === undefined) headers.push('date', new Date(now).toUTCString());
    const options = cache.policyOptions;
    let e: StoredResponse | null = null;
    const varyHeader = joinedValue(headers, 'vary');
    const varyNames = varyHeader === undefined ? null : fieldList(varyHeader);
    e = makeEntry(this.key, status, text, headers, EMPTY, this.requestTime, now, varyNames, varyNames === null ? [] : varyNames.map((n) => varyValue(this.requestHeaders, n)), options, parseAge(age));
    const method = this.ctx === null ? 'GET' : this.ctx.method;
    let reason = unstorableReason(method, status, e.policy, headers, this.auth, this.requestNoStore, cache.config.allowSetCookie);
    const length = headerValue(headers, 'content-length');
    if (reason === null && length !== undefined && Number(length) > cache.config.maxObjectSize) reason = 'too large';
    if (reason === null && status === 304) reason = 'status';
    if (reason === null) {
      // RFC 9111 §5.2.2.7: `private="a, b"`: the response may be stored without those fields.
      const priv = e.policy.cc.get('private');
      if (typeof priv === 'string' && priv !== CONFLICT) {
        const names = fieldList(priv);
        for (let i = e.headers.length - 2; i >= 0; i -= 2) if (names.includes(e.headers[i]!)) e.headers.splice(i, 2);
      }
      this.entry = e;
      this.chunks = [];
    }
    this.uncacheable = reason !== null;
    if (this.ctx !== null) cache.addStatus(this.ctx, this.label, reason === null ? `${this.detail}; stored` : this.detail);
    return null;
  }

  /** RFC 9111 §4.3.4: freshens the stored response a 304 names, or null when it names none. */
  private update(rawHeaders: Buffer[], now: number, target: StoredResponse | null = this.validating, head = false): StoredResponse | null {
    const e = target!;
    const { headers } = storedHeaders(rawHeaders, this.cache.gatewayCors);
    if (headerValue(headers, 'date') === undefined) headers.push('date', new Date(now).toUTCString());
    const etag = headerValue(headers, 'etag');
    if (head) {
      // RFC 9111 §4.3.5: a HEAD response describing another representation (other
      // validator, other length) invalidates the stored GET instead of updating it.
      const length = headerValue(headers, 'content-length');
      const lm = headerValue(headers, 'last-modified');
      if ((etag !== undefined && etag !== e.etag) || (length !== undefined && Number(length) !== e.body.length) || (lm !== undefined && e.lastModified !== undefined && lm !== e.lastModified)) {
        this.cache.memory.removeVariant(e);
        return null;
      }
    } else if (etag !== undefined) {
      if (e.etag === undefined || stripWeak(etag) !== stripWeak(e.etag)) return null;
    } else if (!this.ourValidatorOnly) return null;
    const before = e.size;
    const replaced = new Set<string>();
    for (let i = 0; i < headers.length; i += 2) if (!NOT_UPDATED.has(headers[i]!)) replaced.add(headers[i]!);
    const kept: string[] = [];
    for (let i = 0; i < e.headers.length; i += 2) if (!replaced.has(e.headers[i]!)) kept.push(e.headers[i]!, e.headers[i + 1]!);
    for (let i = 0; i < headers.length; i += 2) if (!NOT_UPDATED.has(headers[i]!)) kept.push(headers[i]!, headers[i + 1]!);
    e.headers = kept;
    e.requestTime = this.requestTime;
    e.responseTime = now;
    e.ageValue = parseAge(rawHeaderValue(rawHeaders, 'age'));
    refresh(e, this.cache.policyOptions);
    this.cache.memory.resized(e.size - before);
    this.cache.store(e);
    this.stored = true;
    return e;
  }

  private staleIfError(now: number, why: string): Answer | null {
    return this.fallback === null ? null : this.cache.staleIfErrorAnswer(this.ctx, this.fallback, now, why);
  }

  onData(chunk: Buffer): void {
    const chunks = this.chunks;
    if (chunks === null) return;
    this.bytes += chunk.length;
    if (this.bytes > this.cache.config.maxObjectSize) {
      // Too large after all: keep streaming, stop buffering.
      this.chunks = null;
      this.entry = null;
      return;
    }
    chunks.push(chunk);
  }

  onError(code: ErrorCode): Answer | null {
    return this.staleIfError(Date.now(), `detail=${code}`);
  }

  onEnd(complete: boolean): void {
    const e = this.entry;
    if (e !== null && complete && this.chunks !== null) {
      const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.bytes);
      const full: StoredResponse = { ...e, body };
      refresh(full, this.cache.policyOptions);
      this.cache.store(full);
      this.stored = true;
    }
    this.chunks = null;
    this.cache.release(this.key, this.stored ? 'stored' : this.uncacheable ? 'uncacheable' : 'failed', this.leader);
    this.onDone?.();
  }
}

const EMPTY = Buffer.alloc(0);

function stripWeak(etag: string): string {
  return etag.startsWith('W/') ? etag.slice(2) : etag;
}

function rawHeaderValue(raw: Buffer[], lowerName: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toString('latin1').toLowerCase() === lowerName) return raw[i + 1]!.toString('latin1');
  return undefined;
}

/** Builds a route's cache. */
export function createCache(config: CacheConfig, deps: { logger: CacheLogger; routeName: string; gatewayCors?: boolean }): CacheMiddleware {
  return new CacheMiddleware(config, deps.routeName, deps.logger, deps.gatewayCors ?? false);
}

export { ttlOf };

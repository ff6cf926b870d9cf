/**
 * The route cache middleware: looks a request up, answers it from the store when RFC 9111
 * allows, and otherwise lets it go to the backend with a {@link Capture} watching the
 * response. Hits from memory are answered synchronously.
 */
import type { Answer, Middleware, RequestContext } from '../../core/middleware.js';
import { Capture, type CaptureHost } from './capture.js';
import { Collapsing, type FlightOutcome } from './collapsing.js';
import { retentionMs, type StoredResponse } from './entry.js';
import { currentAge, deltaSeconds, headerValue, requestDirectives, type Directives, type PolicyOptions } from './freshness.js';
import { Invalidation } from './invalidation.js';
import type { CacheConfig } from './schema.js';
import { MemoryStore, RedisTier, normalizePurgeTarget, type CacheLogger, type PurgeSpec } from './store.js';
import { addValidators, clientConditionMatches, isConditional } from './validators.js';
import { cacheKey, selectVariant } from './variants.js';

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

/** A live cache middleware, for the admin API. */
export class CacheMiddleware implements Middleware, CaptureHost {
  readonly name = 'cache';
  readonly memory: MemoryStore;
  readonly redis: RedisTier | null;
  readonly policyOptions: PolicyOptions;
  private readonly collapsing = new Collapsing();
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
    if (variants !== undefined || this.redis === null || !this.redis.ready || this.collapsing.skips(key)) return this.decide(ctx, key, reqCC, variants === undefined ? null : selectVariant(variants, raw), variants !== undefined, true);
    return this.redis.get(key, this.policyOptions).then((loaded) => {
      for (const e of loaded) this.memory.put(e);
      return this.decide(ctx, key, reqCC, selectVariant(loaded, raw), loaded.length > 0, true);
    });
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
    if (mayCollapse && this.config.collapse && ctx.method === 'GET' && !auth && !reqNoCache && !isConditional(ctx.rawHeaders) && !this.collapsing.skips(key)) {
      const waiting = this.collapsing.join(key, this.config.collapseTimeoutMs);
      if (waiting !== null) return this.wait(ctx, key, reqCC, waiting);
    } else mayCollapse = false;
    ctx.cacheStatus = label;
    if (label === 'MISS') this.stats.misses++;
    else this.stats.expired++;
    const headers = ctx.upstreamHeaders;
    const edit = validate === null ? null : addValidators(headers, validate);
    const capture = new Capture(this, ctx, key, reqCC?.has('no-store') === true, auth, validate, edit === null ? null : { edit, headers }, fallback ?? validate, mayCollapse, label, detail);
    if (ctx.observeResponse === undefined) {
      // A context without an exchange (unit fixtures): nothing to capture.
      this.release(key, 'failed', mayCollapse);
      return null;
    }
    ctx.observeResponse(capture);
    return null;
  }

  /** Waits for the request in flight for this URL, then answers from what it stored, or goes to the backend itself. */
  private async wait(ctx: RequestContext, key: string, reqCC: Directives | null, waiting: Promise<FlightOutcome | 'timeout'>): Promise<Answer | null> {
    this.stats.collapsed++;
    const outcome = await waiting;
    const variants = this.memory.get(key);
    const entry = variants === undefined ? null : selectVariant(variants, ctx.rawHeaders);
    // The backend failed the leader: a stale copy within stale-if-error serves the
    // waiters too, rather than sending each of them to a failing backend.
    if (outcome === 'failed' && entry !== null) {
      const stale = this.staleIfErrorAnswer(ctx, entry, Date.now(), 'detail=collapsed-leader-failed');
      if (stale !== null) return stale;
    }
    // Otherwise the store decides again; not stored (or another variant): this request
    // goes to the backend on its own.
    return this.decide(ctx, key, reqCC, entry, variants !== undefined, false);
  }

  /** Ends the flight for a key: waiters answer from the store, or go to the backend. */
  release(key: string, outcome: FlightOutcome, leader: boolean): void {
    if (leader) this.collapsing.release(key, outcome);
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
    const edit = hasValidator ? addValidators(headers, entry) : null;
    const capture = new Capture(this, null, key, false, headerValue(ctx.rawHeaders, 'authorization') !== undefined, hasValidator ? entry : null, edit === null ? null : { edit, headers }, entry, false, 'STALE', '');
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
    this.collapsing.releaseAll();
    this.memory.clear();
    return this.redis === null ? Promise.resolve() : this.redis.close();
  }
}

/** stale-while-revalidate is off when the client limits staleness (max-age, min-fresh). */
function requestAllowsStale(reqCC: Directives | null): boolean {
  return reqCC === null || (!reqCC.has('max-age') && !reqCC.has('min-fresh'));
}

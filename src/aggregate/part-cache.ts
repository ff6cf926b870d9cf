/**
 * A shared cache for the GET requests of aggregate parts: an order page that fetches the
 * same product ten thousand times an hour asks the products service once per its
 * freshness lifetime. Freshness, age and what may be stored follow the route cache's RFC
 * 9111 reading (`src/middlewares/cache/freshness.ts`); this keeps only what a part needs:
 * the response body, its expiry, an LRU bounded in bytes, and collapsing of concurrent
 * misses. No revalidation and no stale serving: a part that is not fresh is fetched again.
 *
 * Bodies are stored as bytes and parsed on every hit: parts' results are nested into one
 * another (`into`), so a parsed object must never be shared between answers.
 */
import { computePolicy, currentAge, headerValue, parseAge, parseHttpDate } from '../middlewares/cache/freshness.js';
import type { UpstreamResponse } from '../upstreams/client.js';

interface Entry {
  readonly body: Buffer;
  readonly status: number;
  /** Epoch ms after which the entry is stale. */
  readonly expiresAt: number;
}

/** Counters for the admin API and tests. */
export interface PartCacheStats {
  hits: number;
  misses: number;
  stored: number;
  collapsed: number;
  bytes: number;
  entries: number;
}

/** A response the cache may hand to a part, with what `parseAnswer` needs. */
export interface CachedAnswer {
  readonly status: number;
  readonly body: Buffer;
}

const TARGETS = ['cdn-cache-control'];

export class PartCache {
  private readonly entries = new Map<string, Entry>();
  /** Misses being fetched, by key, and whether their answer was stored. */
  private readonly inFlight = new Map<string, Promise<{ answer: CachedAnswer; stored: boolean }>>();
  readonly stats: PartCacheStats = { hits: 0, misses: 0, stored: 0, collapsed: 0, bytes: 0, entries: 0 };

  constructor(
    /** Most bytes of bodies kept; the least recently used go first. */
    private readonly maxBytes: number,
    /** Freshness (s) for responses that say nothing about it; 0: not stored. */
    private readonly defaultTtl: number,
  ) {}

  /**
   * The fresh stored answer for `key`, the answer of a request for it already running, or
   * the answer of `fetch()` (stored when the response allows it). `shared` is false for
   * requests carrying credentials: then only responses marked for sharing are stored.
   */
  async get(key: string, shared: boolean, fetch: () => Promise<UpstreamResponse>): Promise<CachedAnswer> {
    const now = Date.now();
    const entry = this.entries.get(key);
    if (entry !== undefined) {
      if (entry.expiresAt > now) {
        this.stats.hits++;
        // Map order is the LRU order: a hit moves the entry to the young end.
        this.entries.delete(key);
        this.entries.set(key, entry);
        return entry;
      }
      this.drop(key, entry);
    }
    // Only requests without credentials wait for another's miss, and they take its answer
    // only if it could be stored (it is then meant for anyone); otherwise they ask themselves.
    const running = shared ? this.inFlight.get(key) : undefined;
    if (running !== undefined) {
      this.stats.collapsed++;
      const led = await running.catch(() => null);
      if (led !== null && led.stored) return led.answer;
    }
    this.stats.misses++;
    const requested = Date.now();
    const pending = fetch().then((res) => ({ answer: { status: res.status, body: res.body }, stored: this.maybeStore(key, res, requested, Date.now(), shared) }));
    if (!shared || running !== undefined) return (await pending).answer;
    this.inFlight.set(key, pending);
    try {
      return (await pending).answer;
    } finally {
      this.inFlight.delete(key);
    }
  }

  /** Stores the response when it may be reused; true when it was stored. */
  private maybeStore(key: string, res: UpstreamResponse, requestTime: number, responseTime: number, shared: boolean): boolean {
    if (res.status !== 200 || res.body.length > this.maxBytes / 4) return false;
    const headers = res.headers;
    const policy = computePolicy(res.status, headers, responseTime, { targets: TARGETS, defaultTtl: this.defaultTtl, overrideTtl: 0 });
    const cc = policy.cc;
    if (cc.has('no-store') || cc.has('private') || policy.noCache || policy.noCacheFields !== null) return false;
    // RFC 9111 §3.5: a response to a request with credentials is shared only when it says so.
    if (!shared && !cc.has('public') && !cc.has('s-maxage') && !cc.has('must-revalidate')) return false;
    if (headerValue(headers, 'set-cookie') !== undefined) return false;
    // Parts send the same headers for the same key, but a response that varies on what the
    // client sent (Accept-Language, …) could be wrong for the next client: not stored.
    const vary = headerValue(headers, 'vary');
    if (vary !== undefined && vary.trim() !== '' && vary.trim().toLowerCase() !== 'accept-encoding') return false;
    const age = currentAge({ requestTime, responseTime, dateValue: parseHttpDate(headerValue(headers, 'date')), ageValue: parseAge(headerValue(headers, 'age')) }, responseTime);
    const freshForS = policy.lifetime - age;
    if (freshForS <= 0) return false;
    const old = this.entries.get(key);
    if (old !== undefined) this.drop(key, old);
    this.entries.set(key, { body: res.body, status: res.status, expiresAt: responseTime + freshForS * 1000 });
    this.stats.bytes += res.body.length;
    this.stats.entries++;
    this.stats.stored++;
    for (const [k, e] of this.entries) {
      if (this.stats.bytes <= this.maxBytes) break;
      this.drop(k, e);
    }
    return true;
  }

  private drop(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.stats.bytes -= entry.body.length;
    this.stats.entries--;
  }
}

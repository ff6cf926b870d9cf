/**
 * The rate-limit middleware: every limit of a route is checked for the request's key,
 * the request passes only if all of them allow it, and a refused request consumes
 * nothing. See README.md in this folder for the config, algorithms and failure modes.
 */
import type { Answer, Middleware, RequestContext } from '../../core/middleware.js';
import { gcra, newDecision, slidingWindow, type Decision, type GcraParams, type WindowParams } from './algorithms.js';
import { policyHeader, rateLimitItem, retryAfterSeconds } from './headers.js';
import { KeyTable } from './key-table.js';
import { keyExtractor, type KeyExtractor } from './keys.js';
import { nodeShare, type NodeShare } from './node-share.js';
import { defaultRedisConnections, type RedisConnection, type RedisConnections, type StoreLogger } from './redis-store.js';
import type { LimitConfig, RateLimitConfig } from './schema.js';

export type { LimitConfig, RateLimitConfig, RawRateLimit } from './schema.js';
export { RateLimitSchema, normalizeRateLimit } from './schema.js';

/** What the middleware needs from the gateway. */
export interface RateLimitDeps {
  readonly logger: StoreLogger;
  /**
   * The route's name, for Redis keys and messages. Optional: the middleware then takes
   * it from each request's context.
   */
  readonly routeName?: string;
  /** How refusals name what is limited; default `route "<routeName>"`. */
  readonly subject?: string;
  /** Milliseconds on a monotonic clock, for the memory store (tests inject one). Default `performance.now`. */
  readonly clock?: () => number;
  /** Where Redis connections come from; default: shared by the whole process. */
  readonly redisConnections?: RedisConnections;
}

/** Counters for metrics. */
export interface RateLimitStats {
  /** Requests let through, including those let through because the store failed (`onStoreError: allow`). */
  allowed: number;
  /** Requests refused with 429. */
  limited: number;
  /** Decisions the store could not make (Redis down, slow or erroring). */
  storeErrors: number;
}

/** The middleware with its counters and, for Redis, a way to wait for the connection. */
export interface RateLimitMiddleware extends Middleware {
  stats(): RateLimitStats;
  /** Resolves true once the store can decide (at once for memory), false after `timeoutMs`. */
  whenReady(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

/** A limit compiled for the hot path. */
interface CompiledLimit {
  readonly config: LimitConfig;
  readonly key: KeyExtractor;
  readonly gcra: boolean;
  /** GCRA: emission interval; sliding window: window length (µs). */
  readonly a: number;
  /** GCRA: burst; sliding window: limit. */
  readonly b: number;
  /** The same numbers as parameter objects, made once so that a decision allocates nothing. */
  readonly gcraParams: GcraParams;
  readonly windowParams: WindowParams;
  /** Memory store only. */
  readonly table: KeyTable | null;
  readonly decision: Decision;
  /** With workers: this worker's share of the limit's rate, filled per request (no allocation). */
  readonly sharedGcra: { intervalUs: number; burst: number };
  /** The share in force for the current request (1 without workers). */
  share: number;
  readonly sharedWindow: { windowUs: number; limit: number };
}

const UNAVAILABLE_RETRY_AFTER = '1';

/**
 * Builds the rate-limit middleware of one route.
 *
 * @example
 * const { config } = normalizeRateLimit({ limits: [{ name: 'per-ip', rate: 100, per: '1s', burst: 20 }] });
 * const rl = createRateLimit(config!, { logger, routeName: 'api' });
 * // in the pipeline: rl.handle(ctx) → null (go on) or a 429 Answer
 * await rl.close(); // when the config version is replaced
 */
export function createRateLimit(config: RateLimitConfig, deps: RateLimitDeps): RateLimitMiddleware {
  return new RateLimiter(config, deps);
}

class RateLimiter implements RateLimitMiddleware {
  readonly name = 'rate-limit';
  private readonly limits: readonly CompiledLimit[];
  private readonly policy: string;
  private readonly headers: boolean;
  private readonly deny: boolean;
  private readonly clock: () => number;
  private readonly keys: string[];
  /** Memory store: each limit's table slot for the current request (-1: new key). */
  private readonly slots: Int32Array;
  private readonly counters: RateLimitStats = { allowed: 0, limited: 0, storeErrors: 0 };
  private readonly redis: RedisConnection | null;
  private readonly connections: RedisConnections | null;
  private readonly keyPrefix: string;
  /** ARGV of the Redis script: three per limit, the same for every request. */
  private readonly scriptArgs: readonly string[];
  private readonly fixedRoute: string | undefined;
  private readonly subject: string | undefined;
  private routeKeyFor: string | undefined;
  private routeKeyPrefixes: string[] = [];
  private closed = false;

  constructor(config: RateLimitConfig, deps: RateLimitDeps) {
    const memory = config.store === 'memory';
    this.limits = config.limits.map((l): CompiledLimit => {
      const isGcra = l.algorithm === 'gcra';
      const perUs = l.perMs * 1000;
      // Whole microseconds keep the arithmetic exact; the rounding changes a rate by under a millionth.
      const a = isGcra ? Math.max(1, Math.round(perUs / l.rate)) : perUs;
      const b = isGcra ? l.burst : l.rate;
      return {
        config: l,
        key: keyExtractor(l.key, config.ipv6Prefix),
        gcra: isGcra,
        a,
        b,
        gcraParams: { intervalUs: a, burst: b },
        windowParams: { windowUs: a, limit: b },
        table: memory ? new KeyTable(config.maxKeys) : null,
        decision: newDecision(),
        sharedGcra: { intervalUs: a, burst: b },
        share: 1,
        sharedWindow: { windowUs: a, limit: b },
      };
    });
    this.policy = policyHeader(config.limits);
    this.headers = config.headers;
    this.deny = config.onStoreError === 'deny';
    this.clock = deps.clock ?? (() => performance.now());
    this.keys = new Array<string>(this.limits.length).fill('');
    this.slots = new Int32Array(this.limits.length);
    this.fixedRoute = deps.routeName;
    this.subject = deps.subject;
    this.scriptArgs = this.limits.flatMap((l) => [l.gcra ? 'g' : 's', String(l.a), String(l.b)]);
    if (config.store === 'redis' && config.redis !== null) {
      this.connections = deps.redisConnections ?? defaultRedisConnections;
      this.redis = this.connections.acquire(config.redis, deps.logger);
      this.keyPrefix = config.redis.keyPrefix;
    } else {
      this.connections = null;
      this.redis = null;
      this.keyPrefix = '';
    }
  }

  handle(ctx: RequestContext): Answer | null | Promise<Answer | null> {
    const limits = this.limits;
    const keys = this.keys;
    for (let i = 0; i < limits.length; i++) keys[i] = limits[i]!.key(ctx);
    if (this.redis === null) return this.decideInMemory(ctx);
    return this.decideInRedis(ctx, this.redis);
  }

  // ---- memory ------------------------------------------------------------------------

  /**
   * A worker's part of a node-wide limit (src/workers/): its demand is counted and its
   * share of the rate and burst applied. Costs a string and two map operations per limit,
   * and only with workers.
   */
  private shared(node: NodeShare, ctx: RequestContext, l: CompiledLimit, i: number): GcraParams {
    const id = `${this.fixedRoute ?? ctx.routeName}\u0000${l.config.name}\u0000${this.keys[i]!}`;
    node.demand(id, (l.config.rate * 1000) / l.config.perMs);
    const f = Math.min(1, Math.max(0.001, node.share(id)));
    l.share = f;
    // The rate is shared; the burst is not: scaled down, it would be less than the gaps
    // between a busy worker's batches of arrivals, and a worker would admit less than its
    // share. The node may admit up to N bursts at once, then the node's rate.
    l.sharedGcra.intervalUs = Math.max(1, Math.round(l.a / f));
    l.sharedWindow.limit = Math.max(1, Math.round(l.b * f));
    return l.sharedGcra;
  }

  private decideInMemory(ctx: RequestContext): Answer | null {
    const now = Math.floor(this.clock() * 1000);
    const limits = this.limits;
    const node = nodeShare();
    let allowed = true;
    for (let i = 0; i < limits.length; i++) {
      const l = limits[i]!;
      const table = l.table!;
      const slot = table.find(this.keys[i]!);
      this.slots[i] = slot;
      const gp = node === null ? l.gcraParams : this.shared(node, ctx, l, i);
      const wp = node === null ? l.windowParams : l.sharedWindow;
      if (l.gcra) {
        let tat = slot < 0 ? 0 : table.get(slot, 0);
        if (node !== null) {
          // The state was kept at the share of its last decision (in s1): a debt run up at a
          // small share is rescaled to the share now, or it would refuse for seconds after
          // the share grew (one request at 2 % moves the TAT 50 intervals ahead).
          const f = l.share;
          const before = slot < 0 ? f : table.get(slot, 1) || f;
          if (before !== f && tat > now) tat = now + Math.round((tat - now) * (before / f));
        }
        gcra(l.decision, tat, now, gp);
        if (node !== null) l.decision.s1 = l.share;
      } else if (slot < 0) slidingWindow(l.decision, -2, 0, 0, now, wp);
      else slidingWindow(l.decision, table.get(slot, 0), table.get(slot, 1), table.get(slot, 2), now, wp);
      if (!l.decision.allowed) allowed = false;
    }
    if (!allowed) return this.refuse(ctx);
    for (let i = 0; i < limits.length; i++) {
      const l = limits[i]!;
      const d = l.decision;
      // The slot found above is still the key's: nothing else touched this limit's table since.
      l.table!.set(this.keys[i]!, this.slots[i]!, d.s0, d.s1, d.s2);
    }
    return this.allow(ctx);
  }

  // ---- redis -------------------------------------------------------------------------

  private decideInRedis(ctx: RequestContext, redis: RedisConnection): Answer | null | Promise<Answer | null> {
    const prefixes = this.prefixesFor(this.fixedRoute ?? ctx.routeName);
    const keys = new Array<string>(this.limits.length);
    for (let i = 0; i < keys.length; i++) {
      const k = this.keys[i]!;
      // `*` is the anonymous key; present values get `=` so that no value can be `*`.
      keys[i] = k === '' ? `${prefixes[i]}*` : `${prefixes[i]}=${k}`;
    }
    const pending = redis.run(keys, this.scriptArgs);
    if (pending === null) return this.storeFailed(ctx);
    return pending.then((reply) => (reply === null ? this.storeFailed(ctx) : this.fromReply(ctx, reply)));
  }

  /**
   * `<prefix><route>:<limit>:<algorithm>:` per limit, cached for the route last seen.
   * The algorithm is part of the key because its state has another Redis type (a string
   * for GCRA, a hash for the sliding window): a reload that switches a limit's algorithm
   * must not meet the old state. Limit names have no `:` and values start with `=` or
   * are `*`, so no two routes, limits or values can make the same key.
   */
  private prefixesFor(route: string): string[] {
    if (route !== this.routeKeyFor) {
      this.routeKeyFor = route;
      this.routeKeyPrefixes = this.limits.map((l) => `${this.keyPrefix}${route}:${l.config.name}:${l.gcra ? 'gcra' : 'window'}:`);
    }
    return this.routeKeyPrefixes;
  }

  private fromReply(ctx: RequestContext, reply: readonly number[]): Answer | null {
    const limits = this.limits;
    for (let i = 0; i < limits.length; i++) {
      const d = limits[i]!.decision;
      const o = 1 + 4 * i;
      d.allowed = reply[o] === 1;
      d.remaining = reply[o + 1]!;
      d.retryUs = reply[o + 2]!;
      d.resetUs = reply[o + 3]!;
    }
    return reply[0] === 1 ? this.allow(ctx) : this.refuse(ctx);
  }

  private storeFailed(ctx: RequestContext): Answer | null {
    this.counters.storeErrors++;
    if (!this.deny) {
      this.counters.allowed++;
      return null;
    }
    return {
      status: 503,
      code: 'BRISK_RATE_LIMIT_UNAVAILABLE',
      message: `${this.subjectOf(ctx)}: the rate-limit store is unavailable and requests it cannot count are refused (onStoreError: deny)`,
      headers: ['retry-after', UNAVAILABLE_RETRY_AFTER],
    };
  }

  // ---- answers -----------------------------------------------------------------------

  private allow(ctx: RequestContext): null {
    this.counters.allowed++;
    if (!this.headers) return null;
    const limits = this.limits;
    let value = '';
    for (let i = 0; i < limits.length; i++) {
      if (i > 0) value += ', ';
      value += rateLimitItem(limits[i]!.config.name, limits[i]!.decision);
    }
    const out = ctx.responseHeaders ?? (ctx.responseHeaders = []);
    out.push('ratelimit-policy', this.policy, 'ratelimit', value);
    return null;
  }

  private refuse(ctx: RequestContext): Answer {
    this.counters.limited++;
    const limits = this.limits;
    let retryUs = 0;
    let value = '';
    let first: LimitConfig | undefined;
    for (let i = 0; i < limits.length; i++) {
      const d = limits[i]!.decision;
      if (d.allowed) continue;
      first ??= limits[i]!.config;
      if (d.retryUs > retryUs) retryUs = d.retryUs;
      if (value !== '') value += ', ';
      value += rateLimitItem(limits[i]!.config.name, d);
    }
    const retryAfter = retryAfterSeconds(retryUs);
    const l = first!;
    return {
      status: 429,
      code: 'BRISK_RATE_LIMITED',
      message: `${this.subjectOf(ctx)}: rate limit "${l.name}" (${l.rate} per ${formatPer(l.perMs)} by ${l.keySpec}) exceeded; retry in ${retryAfter}s`,
      headers: ['retry-after', String(retryAfter), 'ratelimit-policy', this.policy, 'ratelimit', value],
    };
  }

  private subjectOf(ctx: RequestContext): string {
    return this.subject ?? `route "${this.fixedRoute ?? ctx.routeName}"`;
  }

  // ---- lifecycle ---------------------------------------------------------------------

  stats(): RateLimitStats {
    return { ...this.counters };
  }

  whenReady(timeoutMs = 2000): Promise<boolean> {
    return this.redis === null ? Promise.resolve(true) : this.redis.whenReady(timeoutMs);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.redis !== null) await this.connections!.release(this.redis);
  }
}

function formatPer(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

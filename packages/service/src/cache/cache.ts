/**
 * Cache-aside over two tiers: memory in this process, then Redis shared by every
 * instance, then the loader (the database). See docs/cache.md.
 *
 * - Single flight: concurrent misses on one key in this process share one load.
 * - Jittered TTLs: entries written together do not expire together.
 * - Stale-while-revalidate: for `staleMs` after expiry an entry is served at once while
 *   one background load refreshes it; it is also served when the refresh fails.
 * - Invalidation on write: `invalidate(key)` deletes both tiers and publishes the key on
 *   a Redis channel; every other instance drops it from its memory tier.
 * - Redis down: the Redis tier is skipped without waiting (no offline queue, a short
 *   command timeout), reads go memory → loader, no error reaches the caller. Invalidations
 *   made meanwhile are replayed when Redis is back, and since other instances' ones may
 *   have been missed, the memory tier is cleared then.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { connectRedis, type RedisLocation } from '../redis.js';
import { ServiceError } from '../errors.js';
import { counter, defaultLogger, gauge, Registry, type Logger } from '../observability.js';
import { MemoryTier, type Entry } from './memory.js';

export interface CacheOptions {
  /** Label on metrics and the Redis key prefix (default `main`). */
  name?: string;
  /**
   * Redis URL (`redis://host:port/db`, or `redis+sentinel://s1:26379,s2:26379/NAME` for the
   * primary Sentinel names), a Sentinel group (`{ sentinels, name }`, see redis.ts) or a
   * client; without it the cache is memory only.
   */
  redis?: RedisLocation | Redis;
  /** Entries in the memory tier (default 10000). */
  maxMemoryEntries?: number;
  /** Time an entry is fresh (default 60000 ms). */
  ttlMs?: number;
  /** Memory-tier freshness, at most `ttlMs` (default `ttlMs`). */
  memoryTtlMs?: number;
  /** Spread of TTLs, a fraction (default 0.1: ±10%). */
  jitter?: number;
  /** How long after expiry an entry may still be served while it refreshes (default 0). */
  staleMs?: number;
  /** Redis command timeout (default 200 ms): a slow Redis counts as down. */
  redisTimeoutMs?: number;
  logger?: Logger;
  registry?: Registry;
}

export interface CacheStats {
  hitsMemory: number;
  hitsRedis: number;
  stale: number;
  misses: number;
  loads: number;
  loadErrors: number;
  redisErrors: number;
  redisUp: boolean;
}

/** Where a value came from: the memory tier, Redis, a stale entry (refresh under way), or the loader. */
export type CacheResult = 'hit_memory' | 'hit_redis' | 'stale' | 'miss';
type Result = CacheResult;

export class Cache {
  readonly name: string;
  readonly #memory: MemoryTier;
  readonly #redis: Redis | undefined;
  readonly #subscriber: Redis | undefined;
  readonly #ownsRedis: boolean;
  readonly #inflight = new Map<string, Promise<unknown>>();
  readonly #pendingInvalidations = new Set<string>();
  readonly #instance = randomUUID();
  readonly #prefix: string;
  readonly #channel: string;
  readonly #ttlMs: number;
  readonly #memoryTtlMs: number;
  readonly #jitter: number;
  readonly #staleMs: number;
  readonly #log: Logger;
  readonly #stats: CacheStats = { hitsMemory: 0, hitsRedis: 0, stale: 0, misses: 0, loads: 0, loadErrors: 0, redisErrors: 0, redisUp: false };
  readonly #requests;
  readonly #loadsMetric;
  #everReady = false;
  #lastErrorLog = 0;

  /**
   * @example
   * const cache = new Cache({ name: 'products', redis: process.env.REDIS_URL, ttlMs: 30_000, staleMs: 10_000 });
   * const product = await cache.get(`product:${id}`, () => db.read('select * from products where id = $1', [id]).then((r) => r.rows[0] ?? null));
   * await cache.invalidate(`product:${id}`); // after a write
   */
  constructor(options: CacheOptions = {}) {
    this.name = options.name ?? 'main';
    this.#ttlMs = options.ttlMs ?? 60_000;
    this.#memoryTtlMs = Math.min(options.memoryTtlMs ?? this.#ttlMs, this.#ttlMs);
    this.#jitter = Math.min(Math.max(options.jitter ?? 0.1, 0), 0.5);
    this.#staleMs = Math.max(options.staleMs ?? 0, 0);
    this.#memory = new MemoryTier(options.maxMemoryEntries ?? 10_000);
    this.#prefix = `brisk:cache:${this.name}:`;
    this.#channel = `brisk:cache:${this.name}:invalidate`;
    this.#log = options.logger?.child({ cache: this.name }) ?? defaultLogger(`cache:${this.name}`);
    const registry = options.registry ?? new Registry();
    this.#requests = counter(registry, { name: 'brisk_svc_cache_requests_total', help: 'Cache reads by result (hit_memory, hit_redis, stale, miss)', labelNames: ['cache', 'result'] });
    this.#loadsMetric = counter(registry, { name: 'brisk_svc_cache_loads_total', help: 'Loader calls by outcome', labelNames: ['cache', 'outcome'] });
    const up = gauge(registry, { name: 'brisk_svc_cache_redis_up', help: '1 while the Redis tier is connected', labelNames: ['cache'] });
    up.set({ cache: this.name }, 0);

    if (options.redis === undefined || options.redis === '') {
      this.#ownsRedis = false;
      return;
    }
    const timeout = options.redisTimeoutMs ?? 200;
    const clientOptions = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: timeout,
      connectTimeout: 1000,
      retryStrategy: (times: number) => Math.min(50 * times, 1000),
    };
    const given = options.redis instanceof Redis ? options.redis : null;
    this.#ownsRedis = given === null;
    this.#redis = given ?? connectRedis(options.redis as RedisLocation, clientOptions);
    // A subscriber connection is in a mode of its own: it cannot run GET/SET.
    this.#subscriber = given?.duplicate() ?? connectRedis(options.redis as RedisLocation, { ...clientOptions, commandTimeout: undefined });
    const onError = (error: Error) => this.#redisError(error);
    this.#redis.on('error', onError);
    this.#subscriber.on('error', onError);
    this.#redis.on('ready', () => {
      this.#stats.redisUp = true;
      up.set({ cache: this.name }, 1);
      if (this.#everReady) this.#recovered();
      this.#everReady = true;
    });
    this.#redis.on('close', () => {
      if (this.#stats.redisUp) this.#log.warn('cache: Redis connection lost; serving from memory and the loader');
      this.#stats.redisUp = false;
      up.set({ cache: this.name }, 0);
    });
    this.#subscriber.on('ready', () => {
      this.#subscriber!.subscribe(this.#channel).catch((error: unknown) => this.#redisError(error));
    });
    this.#subscriber.on('message', (_channel: string, message: string) => this.#onInvalidation(message));
  }

  /** What the cache has done so far. */
  stats(): CacheStats {
    return { ...this.#stats };
  }

  /**
   * The value of `key`: from memory, else Redis, else `loader()` (once, however many
   * callers miss at the same time). The loader's value must survive `JSON.stringify`
   * (`undefined` is stored as `null`, which is cached too).
   */
  async get<T>(key: string, loader: () => Promise<T>, options: { ttlMs?: number } = {}): Promise<T> {
    return (await this.lookup(key, loader, options)).value;
  }

  /** Like {@link get}, and says where the value came from (for an `X-Cache` header, tests). */
  async lookup<T>(key: string, loader: () => Promise<T>, options: { ttlMs?: number } = {}): Promise<{ value: T; result: CacheResult }> {
    const now = Date.now();
    const local = this.#memory.get(key, now);
    if (local !== undefined) {
      if (local.freshUntil > now) return { value: this.#count('hit_memory', local.value as T), result: 'hit_memory' };
      this.#refreshInBackground(key, loader, options.ttlMs);
      return { value: this.#count('stale', local.value as T), result: 'stale' };
    }
    const { value, result } = await this.#fetch(key, loader, options.ttlMs);
    return { value: this.#count(result, value), result };
  }

  /** Writes a value to both tiers (after a write that knows the new value). */
  async set<T>(key: string, value: T, options: { ttlMs?: number } = {}): Promise<void> {
    await this.#store(key, value, options.ttlMs);
  }

  /**
   * Removes `key` from both tiers here and from every instance's memory tier (Redis
   * pub/sub). Call it after the write commits. Never throws: while Redis is down the key
   * is remembered and its invalidation replayed when Redis is back.
   */
  /**
   * Drops the memory tier's expired entries (past fresh and stale time) and returns how
   * many: an entry nobody reads again would otherwise hold memory until the tier is full.
   * Redis expires its own copies (every key is written with a TTL).
   */
  sweepExpired(now = Date.now()): number {
    return this.#memory.sweep(now);
  }

  /** Entries in the memory tier. */
  get memorySize(): number {
    return this.#memory.size;
  }

  async invalidate(key: string): Promise<void> {
    this.#memory.delete(key);
    if (this.#redis === undefined) return;
    if (!this.#stats.redisUp) {
      this.#pendingInvalidations.add(key);
      return;
    }
    try {
      await this.#redis.del(this.#prefix + key);
      await this.#redis.publish(this.#channel, JSON.stringify({ key, from: this.#instance }));
    } catch (error) {
      this.#pendingInvalidations.add(key);
      this.#redisError(error);
    }
  }

  async close(): Promise<void> {
    if (this.#subscriber !== undefined) this.#subscriber.disconnect();
    if (this.#redis !== undefined && this.#ownsRedis) this.#redis.disconnect();
  }

  // -------------------------------------------------------------------------------------

  #count<T>(result: Result, value: T): T {
    if (result === 'hit_memory') this.#stats.hitsMemory++;
    else if (result === 'hit_redis') this.#stats.hitsRedis++;
    else if (result === 'stale') this.#stats.stale++;
    else this.#stats.misses++;
    this.#requests.inc({ cache: this.name, result });
    return value;
  }

  /**
   * One flight per key through the lower tiers: Redis, then the loader. Every caller that
   * misses the memory tier while it runs joins it, so a stampede costs one Redis read and
   * at most one load.
   */
  #fetch<T>(key: string, loader: () => Promise<T>, ttlMs: number | undefined): Promise<{ value: T; result: Result }> {
    const running = this.#inflight.get(key);
    if (running !== undefined) return running as Promise<{ value: T; result: Result }>;
    const flight = (async (): Promise<{ value: T; result: Result }> => {
      const now = Date.now();
      const shared = await this.#redisGet(key);
      if (shared !== undefined && shared.staleUntil > now) {
        this.#memory.set(key, { value: shared.value, freshUntil: Math.min(shared.freshUntil, now + this.#memoryTtlMs), staleUntil: shared.staleUntil });
        if (shared.freshUntil > now) return { value: shared.value as T, result: 'hit_redis' };
        this.#refreshLater(key, loader, ttlMs);
        return { value: shared.value as T, result: 'stale' };
      }
      return { value: await this.#load(key, loader, ttlMs), result: 'miss' };
    })().finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, flight);
    return flight;
  }

  async #load<T>(key: string, loader: () => Promise<T>, ttlMs: number | undefined): Promise<T> {
    this.#stats.loads++;
    try {
      const value = await loader();
      this.#loadsMetric.inc({ cache: this.name, outcome: 'ok' });
      await this.#store(key, value, ttlMs);
      return value;
    } catch (error) {
      this.#stats.loadErrors++;
      this.#loadsMetric.inc({ cache: this.name, outcome: 'error' });
      if (error instanceof ServiceError) throw error;
      throw new ServiceError('BRISK_SVC_CACHE_LOAD_FAILED', `cache "${this.name}": loading "${key}" failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }

  /** After a stale Redis entry was served by a flight: refresh once that flight is over. */
  #refreshLater<T>(key: string, loader: () => Promise<T>, ttlMs: number | undefined): void {
    setImmediate(() => this.#refreshInBackground(key, loader, ttlMs));
  }

  #refreshInBackground<T>(key: string, loader: () => Promise<T>, ttlMs: number | undefined): void {
    if (this.#inflight.has(key)) return;
    // The stale value was served; a failed refresh leaves it in place until staleUntil.
    const flight = this.#load(key, loader, ttlMs)
      .then((value) => ({ value, result: 'miss' as Result }))
      .finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, flight);
    flight.catch((error: unknown) => this.#log.warn({ key, err: error instanceof Error ? error.message : String(error) }, 'cache: background refresh failed; serving stale'));
  }

  async #store(key: string, raw: unknown, ttlMs: number | undefined): Promise<void> {
    const value = raw === undefined ? null : raw;
    const now = Date.now();
    const base = ttlMs ?? this.#ttlMs;
    const ttl = Math.max(1, Math.round(base * (1 - this.#jitter + 2 * this.#jitter * Math.random())));
    const entry: Entry = { value, freshUntil: now + ttl, staleUntil: now + ttl + this.#staleMs };
    this.#memory.set(key, { ...entry, freshUntil: now + Math.min(ttl, this.#memoryTtlMs) });
    if (this.#redis === undefined || !this.#stats.redisUp) return;
    try {
      await this.#redis.set(this.#prefix + key, JSON.stringify(entry), 'PX', ttl + this.#staleMs);
    } catch (error) {
      this.#redisError(error);
    }
  }

  async #redisGet(key: string): Promise<Entry | undefined> {
    if (this.#redis === undefined || !this.#stats.redisUp) return undefined;
    try {
      const text = await this.#redis.get(this.#prefix + key);
      if (text === null) return undefined;
      const entry = JSON.parse(text) as Entry;
      return typeof entry === 'object' && entry !== null && typeof entry.freshUntil === 'number' ? entry : undefined;
    } catch (error) {
      this.#redisError(error);
      return undefined;
    }
  }

  #onInvalidation(message: string): void {
    try {
      const { key, from } = JSON.parse(message) as { key?: unknown; from?: unknown };
      if (typeof key === 'string' && from !== this.#instance) this.#memory.delete(key);
    } catch {
      // not ours
    }
  }

  /** Redis is back: replay our invalidations, and drop what others may have invalidated meanwhile. */
  #recovered(): void {
    this.#memory.clear();
    const keys = [...this.#pendingInvalidations];
    this.#pendingInvalidations.clear();
    this.#log.info({ replayed: keys.length }, 'cache: Redis is back; memory tier cleared, invalidations replayed');
    for (const key of keys) void this.invalidate(key);
  }

  #redisError(error: unknown): void {
    this.#stats.redisErrors++;
    const now = Date.now();
    if (now - this.#lastErrorLog > 5000) {
      this.#lastErrorLog = now;
      this.#log.warn({ err: error instanceof Error ? error.message : String(error) }, 'cache: Redis error (serving from memory and the loader)');
    }
  }
}

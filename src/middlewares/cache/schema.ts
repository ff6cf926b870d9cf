/**
 * The `cache` key of a route: its schema and the normaliser that turns a schema-valid
 * value into the {@link CacheConfig} the middleware is built from.
 *
 * @example
 * ```yaml
 * cache:
 *   maxBytes: 256mb
 *   maxObjectSize: 2mb
 *   defaultTtl: 60s
 *   staleIfError: 1h
 *   redis: { url: redis://127.0.0.1:6379, keyPrefix: "brisk:cache:" }
 * ```
 */
import { Type, type Static } from '../../config/type-builder.js';
import type { PathProblem, PathSegment } from '../../config/positions.js';
import { SIZE_PATTERN, durationMs, sizeBytes } from '../../config/units.js';
import { normalizeRedisConnection, redisConnectionProps, type RedisEndpoint } from '../../config/redis-schema.js';
import { Duration, Strict } from '../../config/schema-kit.js';

const Size = (description: string, def?: string) =>
  Type.Union([Type.String({ pattern: SIZE_PATTERN }), Type.Integer({ minimum: 0 })], {
    description: `${description} A size: a number of bytes or a string such as \`512kb\`, \`2mb\`.`,
    ...(def === undefined ? {} : { default: def }),
  });

const TOKEN = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";

/** The schema of a route's `cache` key. */
export const CacheSchema = Strict(
  {
    maxBytes: Type.Optional(Size('Memory tier budget for this route: past it the least recently used responses are dropped.', '64mb')),
    maxObjectSize: Type.Optional(
      Size('Largest response body stored. Larger responses stream through to the client uncached (only this much is ever buffered).', '1mb'),
    ),
    defaultTtl: Type.Optional(
      Duration(
        'Freshness for responses that say nothing about it (no `Cache-Control` max-age/s-maxage, no `Expires`, no `Last-Modified`), for statuses RFC 9110 lets a cache give heuristic freshness (200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501). `0`: such responses are only stored when they can be revalidated.',
        '0',
      ),
    ),
    forceTtl: Type.Optional(
      Duration(
        "Overrides the backend: every storable response is fresh for exactly this long, whatever its `Cache-Control`/`Expires` say about freshness, and `no-cache`/`must-revalidate` are ignored. `no-store`, `private`, `Authorization` and `Set-Cookie` rules still apply. `0`: off (the backend's directives are obeyed, the default).",
        '0',
      ),
    ),
    staleWhileRevalidate: Type.Optional(
      Duration('Default `stale-while-revalidate` window for responses that carry none: a stale response is served at once while one background request refreshes it.', '0'),
    ),
    staleIfError: Type.Optional(
      Duration('Default `stale-if-error` window for responses that carry none: a stale response is served when the backend fails, times out, answers 5xx, or its circuit breaker is open.', '0'),
    ),
    targets: Type.Optional(
      Type.Array(Type.String({ pattern: TOKEN }), {
        default: ['CDN-Cache-Control'],
        description:
          'RFC 9213 targeted cache-control fields Brisk obeys, most specific first; the first one present in a response replaces `Cache-Control` for Brisk. E.g. `[Brisk-Cache-Control, CDN-Cache-Control]`. `[]`: only `Cache-Control`.',
      }),
    ),
    allowSetCookie: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          'Store responses that carry `Set-Cookie`. Off by default: a cookie is usually one user\'s session, and a shared cache would hand it to every client that hits the entry.',
      }),
    ),
    collapse: Type.Optional(
      Type.Boolean({ default: true, description: 'Request collapsing: concurrent misses for one URL send one request to the backend; the others wait for its response.' }),
    ),
    collapseTimeout: Type.Optional(
      Duration('Longest a collapsed request waits for the first one; past it, it goes to the backend itself.', '5s'),
    ),
    statusHeader: Type.Optional(
      Type.Union([Type.String({ pattern: TOKEN }), Type.Literal(false)], {
        default: 'X-Cache',
        description: 'Response header telling how the cache answered (HIT, MISS, STALE, REVALIDATED, EXPIRED, BYPASS); `false`: none. `Cache-Status` (RFC 9211) is always added.',
      }),
    ),
    cacheStatusName: Type.Optional(Type.String({ pattern: TOKEN, default: 'Brisk', description: 'Name of this cache in the `Cache-Status` header.' })),
    redis: Type.Optional(
      Strict(
        {
          ...redisConnectionProps(),
          keyPrefix: Type.Optional(Type.String({ maxLength: 100, default: 'brisk:cache:', description: 'Prefix of every key and channel the cache uses.' })),
          timeout: Type.Optional(Duration('Longest wait for a Redis read; past it the request is treated as a miss. Writes never hold a request.', '50ms')),
        },
        'A shared second tier: gateway nodes with the same Redis and `keyPrefix` share one cache. When Redis is down the cache works from memory alone.',
      ),
    ),
  },
  'HTTP caching for this route (RFC 9111 shared cache). Runs after auth and rate limits, so protected routes stay protected.',
);

export type RawCache = Static<typeof CacheSchema>;

/** The normalised `cache` of a route. Durations in seconds where HTTP counts seconds. */
export interface CacheConfig {
  readonly maxBytes: number;
  readonly maxObjectSize: number;
  readonly defaultTtlS: number;
  readonly forceTtlS: number;
  readonly staleWhileRevalidateS: number;
  readonly staleIfErrorS: number;
  /** Lower case. */
  readonly targets: readonly string[];
  readonly allowSetCookie: boolean;
  readonly collapse: boolean;
  readonly collapseTimeoutMs: number;
  /** Null: no status header. */
  readonly statusHeader: string | null;
  readonly cacheStatusName: string;
  readonly redis: { readonly endpoint: RedisEndpoint; readonly keyPrefix: string; readonly timeoutMs: number } | null;
}

export const CACHE_DEFAULTS = {
  maxBytes: 64 * 1024 * 1024,
  maxObjectSize: 1024 * 1024,
  collapseTimeoutMs: 5000,
  keyPrefix: 'brisk:cache:',
  redisTimeoutMs: 50,
} as const;

/**
 * Checks and normalises a schema-valid `cache` value; problems carry paths relative to
 * the `cache` key.
 *
 * @example
 * normalizeCache({ defaultTtl: '1m' }).config?.defaultTtlS // 60
 */
export function normalizeCache(raw: RawCache): { config?: CacheConfig; problems: PathProblem[]; warnings: PathProblem[] } {
  const problems: PathProblem[] = [];
  const warnings: PathProblem[] = [];
  const problem = (path: readonly PathSegment[], message: string) => problems.push({ path, message, at: 'value' });
  const size = (key: 'maxBytes' | 'maxObjectSize', def: number) => {
    const v = raw[key];
    if (v === undefined) return def;
    const n = sizeBytes(v);
    if (n === undefined) {
      problem([key], 'not a valid size');
      return def;
    }
    return n;
  };
  const seconds = (key: 'defaultTtl' | 'forceTtl' | 'staleWhileRevalidate' | 'staleIfError') => {
    const v = raw[key];
    if (v === undefined) return 0;
    const ms = durationMs(v);
    if (ms === undefined) {
      problem([key], 'not a valid duration');
      return 0;
    }
    if (ms !== 0 && ms < 1000) problem([key], 'HTTP freshness counts whole seconds: use at least 1s (or 0 for none)');
    return Math.floor(ms / 1000);
  };
  const maxBytes = size('maxBytes', CACHE_DEFAULTS.maxBytes);
  const maxObjectSize = size('maxObjectSize', CACHE_DEFAULTS.maxObjectSize);
  if (maxObjectSize > maxBytes) problem(['maxObjectSize'], `maxObjectSize (${maxObjectSize} bytes) is larger than maxBytes (${maxBytes} bytes): nothing that large could be kept`);
  let collapseTimeoutMs: number = CACHE_DEFAULTS.collapseTimeoutMs;
  if (raw.collapseTimeout !== undefined) {
    const ms = durationMs(raw.collapseTimeout);
    if (ms === undefined || ms > 60_000) problem(['collapseTimeout'], 'must be a duration of at most 1m');
    else collapseTimeoutMs = ms;
  }
  let redis: CacheConfig['redis'] = null;
  if (raw.redis !== undefined) {
    const endpoint = normalizeRedisConnection(raw.redis, ['redis'], problems);
    let timeoutMs: number = CACHE_DEFAULTS.redisTimeoutMs;
    if (raw.redis.timeout !== undefined) {
      const ms = durationMs(raw.redis.timeout);
      if (ms === undefined || ms < 1 || ms > 10_000) problem(['redis', 'timeout'], 'the Redis timeout must be between 1ms and 10s');
      else timeoutMs = ms;
    }
    if (endpoint !== null) redis = { endpoint, keyPrefix: raw.redis.keyPrefix ?? CACHE_DEFAULTS.keyPrefix, timeoutMs };
  }
  const forceTtlS = seconds('forceTtl');
  const defaultTtlS = seconds('defaultTtl');
  if (forceTtlS > 0 && defaultTtlS > 0) warnings.push({ path: ['defaultTtl'], message: 'ignored: `forceTtl` overrides every response', at: 'key' });
  const config: CacheConfig = {
    maxBytes,
    maxObjectSize,
    defaultTtlS,
    forceTtlS,
    staleWhileRevalidateS: seconds('staleWhileRevalidate'),
    staleIfErrorS: seconds('staleIfError'),
    targets: (raw.targets ?? ['CDN-Cache-Control']).map((t) => t.toLowerCase()),
    allowSetCookie: raw.allowSetCookie ?? false,
    collapse: raw.collapse ?? true,
    collapseTimeoutMs,
    statusHeader: raw.statusHeader === false ? null : (raw.statusHeader ?? 'X-Cache'),
    cacheStatusName: raw.cacheStatusName ?? 'Brisk',
    redis,
  };
  return problems.length > 0 ? { problems, warnings } : { config, problems, warnings };
}

/**
 * The `rateLimit` key of a route: its schema (one source for the JSON Schema, the
 * generated docs and the raw TypeScript type) and the normaliser that turns a
 * schema-valid value into the {@link RateLimitConfig} the middleware is built from.
 *
 * The lead plugs `RateLimitSchema` into the route schema and calls
 * `normalizeRateLimit` from the config normaliser, prefixing the problem paths with
 * `['routes', i, 'rateLimit']`.
 *
 * @example
 * ```yaml
 * rateLimit:
 *   store: redis
 *   redis: { url: redis://127.0.0.1:6379, keyPrefix: "brisk:rl:", timeout: 50ms }
 *   onStoreError: allow
 *   limits:
 *     - { name: per-ip, rate: 100, per: 1s, burst: 20, key: ip }
 *     - { name: per-user, algorithm: sliding-window, rate: 1000, per: 1h, key: "claim:sub" }
 * ```
 */
import { Type, type Static } from '../../config/type-builder.js';
import type { PathProblem, PathSegment } from '../../config/positions.js';
import { MAX_DURATION_MS, durationMs } from '../../config/units.js';
import { normalizeRedisConnection, redactRedisUrl, redisConnectionProps, type RedisEndpoint } from '../../config/redis-schema.js';
import { Duration, PatternString, Strict } from '../../config/schema-kit.js';

// The same union the config schema uses, so that the validator's messages and the docs
// generator recognise it as a duration (both compare the pattern).

/**
 * Names of limits: they appear in headers (as structured-field strings, so nothing that
 * needs escaping) and in Redis keys (so no `:`, the key separator).
 */
const NAME_PATTERN = '^[A-Za-z0-9_.-]+$';

/**
 * `ip`, `route`, `apiKey`, `identity`, `header:<name>` (an HTTP token) or `claim:<name>`
 * (a JWT claim; dots walk into nested objects).
 */
const KEY_PATTERN = "^(ip|route|apiKey|identity|header:[!#$%&'*+.^_`|~0-9A-Za-z-]+|claim:[^\\s]+)$";

/** What a user is told when a `key` matches none of the forms. */
const KEY_FORMS =
  'expected one of: `ip` (the client address), `route` (one counter for the route), `apiKey`, `identity` (the authenticated subject), `header:<name>` (a request header, e.g. `header:x-tenant-id`), `claim:<name>` (a JWT claim, e.g. `claim:sub`, `claim:org.id`)';

/** Largest number of limits on one route: they are evaluated in one Redis script. */
export const MAX_LIMITS = 16;

const Limit = Strict(
  {
    name: Type.Optional(
      PatternString(NAME_PATTERN, 'may only contain letters, digits and "_", ".", "-"', {
        maxLength: 64,
        description:
          'Name of the limit (letters, digits, `_`, `.`, `-`), shown in the `RateLimit-Policy`/`RateLimit` headers and part of the Redis key. Unique within the route; may be left out only when the route has a single limit (it is then `default`).',
      }),
    ),
    algorithm: Type.Optional(
      Type.Union([Type.Literal('gcra'), Type.Literal('sliding-window')], {
        default: 'gcra',
        description:
          '`gcra`: the generic cell rate algorithm, a token bucket of `burst` tokens refilled at `rate` per `per` (smooth, one timestamp per key). `sliding-window`: at most `rate` requests in any `per`, estimated from two fixed windows weighted by overlap.',
      }),
    ),
    rate: Type.Integer({ minimum: 1, maximum: 1_000_000_000, description: 'Requests allowed per `per`.' }),
    per: Duration('The period `rate` applies to (`1s`, `1m`, `1h`).'),
    burst: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1_000_000_000,
        description: '`gcra` only: the bucket size, the most requests let through at once after a quiet spell. Defaults to `rate`.',
      }),
    ),
    key: Type.Optional(
      PatternString(KEY_PATTERN, KEY_FORMS, {
        default: 'ip',
        description:
          'What is counted separately: `ip` (the client address; IPv6 grouped by `ipv6Prefix`), `route` (one counter for the whole route), `header:<name>` (the value of a request header), `apiKey` (the API key the auth middleware accepted, else a hash of the `x-api-key` header), `claim:<name>` (a claim of the authenticated identity, e.g. `claim:sub`, `claim:org.id`), `identity` (the authenticated subject). Requests without the header, claim or identity share one anonymous counter per limit.',
      }),
    ),
    beforeAuth: Type.Optional(
      Type.Boolean({
        description:
          'Count the request before the route\'s `auth` checks credentials, so that requests auth refuses are counted (and limited) too: a client guessing API keys or passwords is slowed down before any is checked. Defaults to `true` for `key: ip` and `false` for every other key (a `route` or `header:` counter that anonymous requests could use up would lock legitimate clients out). Cannot be `true` for `apiKey`, `identity` and `claim:` keys, which need auth\'s answer.',
      }),
    ),
  },
  'One limit. A request must pass every limit of its route; a refused request consumes none of the limits checked at the same stage (the limits counted before auth are checked, and consumed, first).',
);

const RedisStore = Strict(
  {
    ...redisConnectionProps('redis://127.0.0.1:6379'),
    keyPrefix: Type.Optional(
      Type.String({ maxLength: 100, default: 'brisk:rl:', description: 'Prefix of every key the rate limiter writes; keys are `<prefix><route>:<limit>:<algorithm>:=<key>` (`*` instead of `=<key>` for the anonymous counter).' }),
    ),
    timeout: Type.Optional(
      Duration('Longest wait for Redis to decide; past it the request gets the `onStoreError` behaviour. Keep it small: it is added to every request while Redis is slow.', '50ms'),
    ),
  },
  'The Redis connection (`store: redis`): one server (`url`) or Sentinel (`sentinels`, `name`). Connections are shared by all routes with the same Redis and timeout.',
);

/** The schema of a route's `rateLimit` key. */
export const RateLimitSchema = Strict(
  {
    store: Type.Optional(
      Type.Union([Type.Literal('memory'), Type.Literal('redis')], {
        default: 'memory',
        description: '`memory`: counters in this gateway process only. `redis`: counters in Redis, exact across any number of gateway processes.',
      }),
    ),
    redis: Type.Optional(RedisStore),
    memory: Type.Optional(
      Strict(
        {
          maxKeys: Type.Optional(
            Type.Integer({
              minimum: 1,
              maximum: 10_000_000,
              default: 100_000,
              description: 'Most keys remembered per limit; past it the least recently seen key is forgotten (a client spraying keys cannot grow memory).',
            }),
          ),
        },
        'The in-process store (`store: memory`).',
      ),
    ),
    onStoreError: Type.Optional(
      Type.Union([Type.Literal('allow'), Type.Literal('deny')], {
        default: 'allow',
        description:
          'What happens while Redis cannot answer within `redis.timeout`: `allow` lets requests through unlimited (fail-open), `deny` refuses them with 503 `BRISK_RATE_LIMIT_UNAVAILABLE` (fail-closed).',
      }),
    ),
    headers: Type.Optional(
      Type.Boolean({
        default: true,
        description: 'Add `RateLimit-Policy` and `RateLimit` headers to allowed responses too (refusals always carry them, with `Retry-After`).',
      }),
    ),
    ipv6Prefix: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 128,
        default: 64,
        description: 'For `key: ip`, IPv6 clients are counted per network of this prefix length: one client usually holds a whole /64.',
      }),
    ),
    limits: Type.Array(Limit, { minItems: 1, maxItems: MAX_LIMITS, description: 'The limits; a request must pass all of them.' }),
  },
  'Rate limiting for this route.',
);

/** The `rateLimit` key as written in the file. */
export type RawRateLimit = Static<typeof RateLimitSchema>;
export type RawRateLimitLimit = Static<typeof Limit>;

/** What a limit counts by; see the `key` description in the schema. */
export type LimitKey =
  | { readonly kind: 'ip' }
  | { readonly kind: 'route' }
  | { readonly kind: 'apiKey' }
  | { readonly kind: 'identity' }
  /** `name` lower-cased. */
  | { readonly kind: 'header'; readonly name: string }
  /** `path`: the claim name split at dots, for nested claims. */
  | { readonly kind: 'claim'; readonly name: string; readonly path: readonly string[] };

/** One normalised limit. */
export interface LimitConfig {
  readonly name: string;
  readonly algorithm: 'gcra' | 'sliding-window';
  readonly rate: number;
  readonly perMs: number;
  /** The bucket size (`gcra`); equal to `rate` for `sliding-window`, where it is not used. */
  readonly burst: number;
  readonly key: LimitKey;
  /** The key as written (`header:x-user`), for messages. */
  readonly keySpec: string;
  /** Counted before auth (every request), not after it (only those auth let through). */
  readonly beforeAuth: boolean;
}

export interface RedisStoreConfig {
  /** Where Redis is: one server or Sentinel. */
  readonly endpoint: RedisEndpoint;
  readonly keyPrefix: string;
  readonly timeoutMs: number;
}

/** The normalised `rateLimit` of a route. */
export interface RateLimitConfig {
  readonly store: 'memory' | 'redis';
  /** Null when `store` is `memory`. */
  readonly redis: RedisStoreConfig | null;
  readonly maxKeys: number;
  readonly onStoreError: 'allow' | 'deny';
  readonly headers: boolean;
  readonly ipv6Prefix: number;
  readonly limits: readonly LimitConfig[];
}

/** Defaults, also written into the schema (the docs show them). */
export const RATE_LIMIT_DEFAULTS = {
  redisUrl: 'redis://127.0.0.1:6379',
  keyPrefix: 'brisk:rl:',
  timeoutMs: 50,
  maxKeys: 100_000,
  ipv6Prefix: 64,
} as const;

/**
 * The longest a GCRA bucket may take to refill (`burst × per / rate`). Timestamps are
 * kept in microseconds as doubles, in JavaScript and in Redis' Lua alike; bounding the
 * bucket keeps every value far below 2^53.
 */
const MAX_BUCKET_US = MAX_DURATION_MS * 1000;

/**
 * Checks and normalises a schema-valid `rateLimit` value. Problems carry a path relative
 * to the `rateLimit` key (`['limits', 0, 'rate']`); `config` is set only when there are
 * none. Warnings are for settings that have no effect.
 *
 * @example
 * const { config, problems } = normalizeRateLimit({ limits: [{ rate: 10, per: '1s' }] });
 * // config.limits[0] → { name: 'default', algorithm: 'gcra', rate: 10, perMs: 1000, burst: 10, key: { kind: 'ip' }, … }
 */
export function normalizeRateLimit(raw: RawRateLimit): { config?: RateLimitConfig; problems: PathProblem[]; warnings: PathProblem[] } {
  const problems: PathProblem[] = [];
  const warnings: PathProblem[] = [];
  const problem = (path: readonly PathSegment[], message: string, at: 'key' | 'value' = 'value') => problems.push({ path, message, at });

  const store = raw.store ?? 'memory';
  let redis: RedisStoreConfig | null = null;
  if (store === 'redis') {
    const endpoint = normalizeRedisConnection(raw.redis ?? {}, ['redis'], problems, RATE_LIMIT_DEFAULTS.redisUrl);
    let timeoutMs: number = RATE_LIMIT_DEFAULTS.timeoutMs;
    if (raw.redis?.timeout !== undefined) {
      const ms = durationMs(raw.redis.timeout);
      if (ms === undefined || ms < 1) problem(['redis', 'timeout'], 'the Redis timeout must be at least 1ms');
      else if (ms > 60_000) problem(['redis', 'timeout'], 'a Redis timeout over 1m would hold every request that long while Redis is unreachable; keep it in milliseconds');
      else timeoutMs = ms;
    }
    if (endpoint !== null) redis = { endpoint, keyPrefix: raw.redis?.keyPrefix ?? RATE_LIMIT_DEFAULTS.keyPrefix, timeoutMs };
  } else {
    if (raw.redis !== undefined) warnings.push({ path: ['redis'], message: 'ignored: `store` is `memory`; set `store: redis` to use Redis', at: 'key' });
    if (raw.onStoreError !== undefined) warnings.push({ path: ['onStoreError'], message: 'ignored: the memory store cannot fail; it matters with `store: redis`', at: 'key' });
  }
  if (store === 'redis' && raw.memory !== undefined) warnings.push({ path: ['memory'], message: 'ignored: `store` is `redis`', at: 'key' });

  const limits: LimitConfig[] = [];
  const names = new Map<string, number>();
  raw.limits.forEach((l, i) => {
    const at = ['limits', i] as const;
    const algorithm = l.algorithm ?? 'gcra';
    let name = l.name;
    if (name === undefined) {
      if (raw.limits.length > 1) problem([...at], 'a route with several limits needs a `name` on each (it appears in the RateLimit headers and Redis keys)', 'key');
      name = 'default';
    }
    const earlier = names.get(name);
    if (earlier !== undefined) problem([...at, 'name'], `limit name ${JSON.stringify(name)} is already used by limits.${earlier}`);
    else names.set(name, i);

    const perMs = durationMs(l.per);
    if (perMs === undefined || perMs < 1) {
      problem([...at, 'per'], 'the period must be at least 1ms');
      return;
    }
    if (perMs > MAX_DURATION_MS) {
      problem([...at, 'per'], 'the period is too long; the longest is 24 days ("576h")');
      return;
    }
    if ((perMs * 1000) / l.rate < 1) {
      problem([...at, 'rate'], `${l.rate} per ${perMs}ms is more than one request per microsecond; use a longer \`per\` or a lower \`rate\``);
      return;
    }
    if (l.burst !== undefined && algorithm !== 'gcra') {
      problem([...at, 'burst'], 'burst applies to the gcra algorithm only; a sliding window allows `rate` requests in any `per`', 'key');
    }
    const burst = algorithm === 'gcra' ? (l.burst ?? l.rate) : l.rate;
    if (algorithm === 'gcra' && burst * ((perMs * 1000) / l.rate) > MAX_BUCKET_US) {
      problem([...at, 'burst'], `a bucket of ${burst} at ${l.rate} per ${perMs}ms takes more than 24 days to refill; lower \`burst\``);
    }

    const keySpec = l.key ?? 'ip';
    const key = parseKey(keySpec);
    const needsIdentity = key.kind === 'apiKey' || key.kind === 'identity' || key.kind === 'claim';
    if (l.beforeAuth === true && needsIdentity) {
      problem([...at, 'beforeAuth'], `a limit keyed by ${keySpec} counts who auth says the client is, so it runs after auth; use \`key: ip\` to count requests before auth`);
    }
    limits.push({ name, algorithm, rate: l.rate, perMs, burst, key, keySpec, beforeAuth: l.beforeAuth ?? key.kind === 'ip' });
  });

  if (problems.length > 0) return { problems, warnings };
  return {
    config: {
      store,
      redis,
      maxKeys: raw.memory?.maxKeys ?? RATE_LIMIT_DEFAULTS.maxKeys,
      onStoreError: raw.onStoreError ?? 'allow',
      headers: raw.headers ?? true,
      ipv6Prefix: raw.ipv6Prefix ?? RATE_LIMIT_DEFAULTS.ipv6Prefix,
      limits,
    },
    problems,
    warnings,
  };
}

/** Parses a schema-valid key spec (`header:X-User` → `{ kind: 'header', name: 'x-user' }`). */
export function parseKey(spec: string): LimitKey {
  if (spec.startsWith('header:')) return { kind: 'header', name: spec.slice(7).toLowerCase() };
  if (spec.startsWith('claim:')) {
    const name = spec.slice(6);
    return { kind: 'claim', name, path: name.split('.') };
  }
  switch (spec) {
    case 'route':
      return { kind: 'route' };
    case 'apiKey':
      return { kind: 'apiKey' };
    case 'identity':
      return { kind: 'identity' };
    default:
      return { kind: 'ip' };
  }
}

/** A URL with its password hidden, for messages. */
export const redactUrl = redactRedisUrl;

/**
 * Where a Redis is: one definition of the connection keys that every Redis user of the
 * config shares (rate limits, the cache's shared tier, shared outlier hints), so that a
 * plain server and a Sentinel-managed one are written, validated and documented the
 * same way under every key.
 *
 * ```yaml
 * redis: { url: redis://:secret@10.0.0.5:6379/0 }            # one server
 * redis:                                                       # Sentinel: the primary of `brisk`
 *   sentinels: [10.0.0.11:26379, 10.0.0.12:26379, 10.0.0.13:26379]
 *   name: brisk
 *   password: ${REDIS_PASSWORD}
 * ```
 *
 * Redis Cluster is refused with its reason: every user here sends several keys in one
 * script or transaction (a route's limits, a cache entry and its tags), which Cluster
 * only allows when they share a hash slot.
 */
import { Type } from './type-builder.js';
import type { PathProblem, PathSegment } from './positions.js';

/** A `host:port` of a Sentinel. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** A normalised Redis location. */
export type RedisEndpoint =
  | { readonly kind: 'url'; readonly url: string }
  | {
      readonly kind: 'sentinel';
      readonly sentinels: readonly HostPort[];
      /** The master group name the Sentinels watch. */
      readonly name: string;
      readonly username: string | null;
      readonly password: string | null;
      readonly sentinelPassword: string | null;
      readonly db: number;
      readonly tls: boolean;
    };

const HOST_PORT = '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9._-]+):[0-9]{1,5}$';

/**
 * The connection keys, to spread into a feature's `redis` object schema.
 * `urlDefault`: the URL used when neither `url` nor `sentinels` is given (none: one is required).
 */
export function redisConnectionProps(urlDefault?: string) {
  return {
    url: Type.Optional(
      Type.String({
        pattern: '^rediss?://',
        ...(urlDefault === undefined ? {} : { default: urlDefault }),
        description: 'Redis server: `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. Leave it out when `sentinels` is given.',
      }),
    ),
    sentinels: Type.Optional(
      Type.Array(Type.String({ pattern: HOST_PORT }), {
        minItems: 1,
        maxItems: 32,
        description:
          'Redis Sentinel: `host:port` of the Sentinels (three or more in production). Brisk asks them for the current primary of `name`, follows failovers (it reconnects when a Sentinel announces a new primary, and when a server answers READONLY because it was demoted), and never writes to a replica.',
      }),
    ),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'With `sentinels`: the name of the primary the Sentinels watch (`sentinel monitor NAME ...`).' })),
    username: Type.Optional(Type.String({ minLength: 1, description: 'With `sentinels`: the ACL user on the Redis servers.' })),
    password: Type.Optional(Type.String({ description: 'With `sentinels`: the password of the Redis servers (`${REDIS_PASSWORD}` reads it from the environment).' })),
    sentinelPassword: Type.Optional(Type.String({ description: 'With `sentinels`: the password of the Sentinels, when they have one.' })),
    db: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000, description: 'With `sentinels`: the database number (default 0).' })),
    tls: Type.Optional(Type.Boolean({ description: 'With `sentinels`: connect to the Redis servers (not the Sentinels) over TLS.' })),
    cluster: Type.Optional(
      Type.Array(Type.String(), {
        description: 'Not supported: Brisk sends several keys per script or transaction, which Redis Cluster refuses across hash slots. Use one server or Sentinel.',
      }),
    ),
  };
}

/** The raw shape of {@link redisConnectionProps}. */
export interface RawRedisConnection {
  url?: string;
  sentinels?: string[];
  name?: string;
  username?: string;
  password?: string;
  sentinelPassword?: string;
  db?: number;
  tls?: boolean;
  cluster?: string[];
}

/**
 * Checks and normalises the connection keys of a schema-valid `redis` object. Problems
 * carry paths under `at` (the `redis` key's own path relative to the feature).
 *
 * @example
 * normalizeRedisConnection({ sentinels: ['127.0.0.1:26379'], name: 'brisk' }, ['redis'], problems)
 * // → { kind: 'sentinel', sentinels: [{ host: '127.0.0.1', port: 26379 }], name: 'brisk', db: 0, … }
 */
export function normalizeRedisConnection(raw: RawRedisConnection, at: readonly PathSegment[], problems: PathProblem[], urlDefault?: string): RedisEndpoint | null {
  const problem = (key: string, message: string, where: 'key' | 'value' = 'value') => problems.push({ path: [...at, key], message, at: where });
  const before = problems.length;
  if (raw.cluster !== undefined) {
    problem('cluster', 'Redis Cluster is not supported: a rate limit runs all of a route\'s limits in one script and the cache writes an entry with its tags in one transaction, and Cluster refuses keys of different hash slots in one command. Use one Redis server (`url`) or Sentinel (`sentinels` and `name`)', 'key');
    return null;
  }
  if (raw.sentinels !== undefined) {
    if (raw.url !== undefined) problem('url', 'give either `url` (one server) or `sentinels` (Sentinel asks for the primary), not both', 'key');
    if (raw.name === undefined) problem('sentinels', 'Sentinel needs `name`: the name of the primary the Sentinels watch (`sentinel monitor NAME host port quorum`)', 'key');
    const sentinels: HostPort[] = [];
    raw.sentinels.forEach((s, i) => {
      const colon = s.lastIndexOf(':');
      const host = s.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
      const port = Number(s.slice(colon + 1));
      if (!(port >= 1 && port <= 65535)) problems.push({ path: [...at, 'sentinels', i], message: `the port of ${JSON.stringify(s)} must be between 1 and 65535`, at: 'value' });
      else sentinels.push({ host, port });
    });
    if (problems.length > before || raw.name === undefined) return null;
    return {
      kind: 'sentinel',
      sentinels,
      name: raw.name,
      username: raw.username ?? null,
      password: raw.password ?? null,
      sentinelPassword: raw.sentinelPassword ?? null,
      db: raw.db ?? 0,
      tls: raw.tls ?? false,
    };
  }
  for (const key of ['name', 'username', 'password', 'sentinelPassword', 'db', 'tls'] as const) {
    if (raw[key] !== undefined) problem(key, `\`${key}\` applies with \`sentinels\`; with \`url\`, write it in the URL (redis://user:password@host:port/db, rediss:// for TLS)`, 'key');
  }
  const url = raw.url ?? urlDefault;
  if (url === undefined) {
    problems.push({ path: [...at], message: 'say where Redis is: `url` (one server) or `sentinels` and `name` (Sentinel)', at: 'key' });
    return null;
  }
  try {
    const parsed = new URL(url);
    if (parsed.hostname === '') problem('url', `the Redis URL ${JSON.stringify(redactRedisUrl(url))} has no host`);
    if (parsed.pathname !== '' && parsed.pathname !== '/' && !/^\/\d+$/.test(parsed.pathname)) {
      problem('url', `the path of a Redis URL is the database number ("/0"); got ${JSON.stringify(parsed.pathname)}`);
    }
  } catch {
    problem('url', `invalid Redis URL ${JSON.stringify(redactRedisUrl(url))}`);
  }
  return problems.length > before ? null : { kind: 'url', url };
}

/** A URL with its password hidden, for messages. */
export function redactRedisUrl(url: string): string {
  return url.replace(/^(rediss?:\/\/[^:@/]*:)[^@/]*@/, '$1***@');
}

/** How an endpoint is named in logs and metrics: no password. */
export function describeRedisEndpoint(e: RedisEndpoint): string {
  if (e.kind === 'url') return redactRedisUrl(e.url);
  return `sentinel://${e.sentinels.map((s) => (s.host.includes(':') ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`)).join(',')}/${e.name}${e.db === 0 ? '' : `/${e.db}`}`;
}

/** A key that is equal for two endpoints exactly when one connection can serve both. */
export function redisEndpointKey(e: RedisEndpoint): string {
  return e.kind === 'url' ? e.url : JSON.stringify(e);
}

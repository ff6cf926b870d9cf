/**
 * Where the toolkit's Redis is — one server or the primary that Redis Sentinel names —
 * written the same way for every toolkit part that uses Redis (the cache's shared tier,
 * self-registration), and opened with the same failover behaviour.
 *
 * A service usually gets its Redis from the environment, so Sentinel has a URL form too:
 *
 * ```
 * redis://[:password@]host:6379[/db]                                  one server
 * redis+sentinel://[:password@]s1:26379,s2:26379,s3:26379/NAME[/db]   the primary of NAME
 * ```
 *
 * or, in code, `{ sentinels: ['s1:26379', …], name: 'NAME', password?, sentinelPassword?, db? }`.
 *
 * Why the Sentinel options: after a failover the old primary comes back as a replica and
 * answers writes with READONLY while a client still holds its socket (ioredis#305);
 * `reconnectOnError` reconnects, which asks Sentinel again and lands on the new primary,
 * and `failoverDetector` drops the connection as soon as a Sentinel announces the switch.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { redactUrl } from './db/options.js';
import { ServiceError } from './errors.js';

/** A Redis managed by Sentinel. */
export interface SentinelLocation {
  /** The Sentinels, as `host:port`. */
  sentinels: string[];
  /** The name of the primary the Sentinels watch (`sentinel monitor NAME …`). */
  name: string;
  /** Password of the Redis servers. */
  password?: string;
  /** Password of the Sentinels, when they have one. */
  sentinelPassword?: string;
  /** Database number (default 0). */
  db?: number;
}

/** A Redis URL (`redis://`, `rediss://` or `redis+sentinel://`) or a Sentinel group. */
export type RedisLocation = string | SentinelLocation;

const SENTINEL_URL = /^redis\+sentinel:\/\/(?:([^:@/]*):([^@/]*)@)?([^/]+)\/([^/]+)(?:\/(\d+))?\/?$/;

/**
 * Parses a `redis+sentinel://` URL into a {@link SentinelLocation}; any other string is
 * returned as is.
 * @throws ServiceError `BRISK_SVC_REDIS_CONFIG_INVALID` on a malformed Sentinel URL.
 */
export function parseRedisLocation(location: RedisLocation): RedisLocation {
  if (typeof location !== 'string' || !location.startsWith('redis+sentinel:')) return location;
  const m = SENTINEL_URL.exec(location);
  if (m === null) throw new ServiceError('BRISK_SVC_REDIS_CONFIG_INVALID', `Redis Sentinel URL ${redactUrl(location)} is malformed: write redis+sentinel://[:password@]host:port,host:port/NAME[/db]`);
  const sentinels = m[3]!.split(',');
  for (const s of sentinels) if (!/^(\[[0-9A-Fa-f:.]+\]|[^:[\]]+):\d{1,5}$/.test(s)) throw new ServiceError('BRISK_SVC_REDIS_CONFIG_INVALID', `Redis Sentinel URL ${redactUrl(location)}: "${s}" is not host:port`);
  return {
    sentinels,
    name: decodeURIComponent(m[4]!),
    ...(m[2] === undefined || m[2] === '' ? {} : { password: decodeURIComponent(m[2]) }),
    ...(m[5] === undefined ? {} : { db: Number(m[5]) }),
  };
}

/**
 * Opens a connection to `location` with `options` (timeouts, offline queue) on top of the
 * failover behaviour described above. The caller listens to `error` and disconnects it.
 */
export function connectRedis(location: RedisLocation, options: RedisOptions): Redis {
  const where = parseRedisLocation(location);
  const common: RedisOptions = { ...options, reconnectOnError: (err: Error) => err.message.startsWith('READONLY') || err.message.startsWith('MASTERDOWN') };
  if (typeof where === 'string') return new Redis(where, common);
  return new Redis({
    ...common,
    sentinels: where.sentinels.map((s) => {
      const colon = s.lastIndexOf(':');
      return { host: s.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port: Number(s.slice(colon + 1)) };
    }),
    name: where.name,
    role: 'master',
    db: where.db ?? 0,
    ...(where.password === undefined ? {} : { password: where.password }),
    ...(where.sentinelPassword === undefined ? {} : { sentinelPassword: where.sentinelPassword }),
    sentinelRetryStrategy: (times: number) => Math.min(50 * times, 1000),
    failoverDetector: true,
    updateSentinels: true,
  });
}

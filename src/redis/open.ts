/**
 * One way to open a Redis connection, for every Redis user of the gateway (rate limits,
 * the cache's shared tier, shared outlier hints): a plain server or the primary that
 * Sentinel names, with the same failure behaviour everywhere.
 *
 * Why these options:
 * - `enableOfflineQueue: false`, `maxRetriesPerRequest: 0`,
 *   `autoResendUnfulfilledCommands: false`: a command while the connection is not ready,
 *   or cut off by a disconnect, fails at once. Every caller has a request waiting and a
 *   fallback (fail-open limits, a cache miss); queueing would turn an outage into latency.
 * - `commandTimeout`: a live but silent connection (a frozen primary, a black-holed
 *   network) fails a command after the caller's timeout instead of never.
 * - `enableReadyCheck`: the connection is `ready` only once the server answers INFO as
 *   loaded; with Sentinel, ioredis also checks that the server really is the primary.
 * - `reconnectOnError` on READONLY: after a failover the old primary comes back as a
 *   replica and answers writes with READONLY while the client still holds its socket
 *   (ioredis#305). Reconnecting asks Sentinel again and lands on the new primary. The
 *   failed command is not re-sent: its request has been answered.
 * - `failoverDetector`: ioredis subscribes to the Sentinels' `+switch-master` and drops
 *   the connection at once on a failover, instead of waiting for the old primary to fail
 *   or answer READONLY.
 * - Reconnection backs off from 50 ms to 1 s with jitter, so that many nodes do not
 *   reconnect in step.
 */
import { createRequire } from 'node:module';
import type { Redis, RedisOptions } from 'ioredis';
import type { RedisEndpoint } from '../config/redis-schema.js';

/** How a connection is used. */
export interface OpenRedisOptions {
  /** Longest wait for one command; also bounds connecting (at least 1 s). Undefined: no limit (a subscriber). */
  readonly timeoutMs?: number | undefined;
  /** A subscriber connection: commands queue while reconnecting and subscriptions are restored. */
  readonly subscriber?: boolean;
  /** Pipelines commands of one event-loop turn into one write (a busy rate limiter). */
  readonly autoPipelining?: boolean;
}

/** Backoff for reconnecting: 50 ms doubling to 1 s, plus up to 100 ms of jitter. */
export function reconnectDelay(attempt: number): number {
  return Math.min(50 * 2 ** Math.max(0, attempt - 1), 1000) + Math.floor(Math.random() * 100);
}

/** True for the replies that mean "you are talking to a replica": reconnect to the primary. */
export function isReadonlyError(err: Error): boolean {
  return err.message.startsWith('READONLY') || err.message.startsWith('MASTERDOWN');
}

/** True for the replies of a Redis Cluster node, which Brisk does not support. */
export function isClusterError(err: Error): boolean {
  return /^(MOVED|ASK|CLUSTERDOWN|CROSSSLOT) /.test(err.message);
}

/**
 * The ioredis options for an endpoint (exported for tests: the options are the design).
 */
export function redisOptions(endpoint: RedisEndpoint, options: OpenRedisOptions = {}): RedisOptions {
  const subscriber = options.subscriber === true;
  const common: RedisOptions = {
    commandTimeout: subscriber ? undefined : options.timeoutMs,
    connectTimeout: Math.max(1000, options.timeoutMs ?? 0),
    enableOfflineQueue: subscriber,
    maxRetriesPerRequest: subscriber ? null : 0,
    autoResendUnfulfilledCommands: false,
    autoResubscribe: subscriber,
    enableAutoPipelining: options.autoPipelining === true,
    enableReadyCheck: true,
    retryStrategy: reconnectDelay,
    // `true`: reconnect, and do not re-send the command that met READONLY.
    reconnectOnError: (err: Error) => isReadonlyError(err),
    lazyConnect: false,
  };
  if (endpoint.kind === 'url') return common;
  return {
    ...common,
    sentinels: endpoint.sentinels.map((s) => ({ host: s.host, port: s.port })),
    name: endpoint.name,
    role: 'master',
    db: endpoint.db,
    ...(endpoint.username === null ? {} : { username: endpoint.username }),
    ...(endpoint.password === null ? {} : { password: endpoint.password }),
    ...(endpoint.sentinelPassword === null ? {} : { sentinelPassword: endpoint.sentinelPassword }),
    ...(endpoint.tls ? { tls: {} } : {}),
    // Sentinels are asked one after another; a silent one must not hold the others up.
    sentinelCommandTimeout: Math.max(500, options.timeoutMs ?? 0),
    sentinelRetryStrategy: reconnectDelay,
    failoverDetector: true,
    // Sentinels learnt from a Sentinel are added to the list: the config keeps working
    // when the Sentinels it names are replaced one by one.
    updateSentinels: true,
  };
}

/**
 * Opens a connection to `endpoint`. The caller must listen to `error` (an unhandled
 * `error` event throws) and close it with `disconnect()` or `quit()`.
 *
 * @example
 * const client = openRedis({ kind: 'sentinel', sentinels: [{ host: '127.0.0.1', port: 26379 }], name: 'brisk', … }, { timeoutMs: 50 });
 * client.on('error', (err) => log.warn({ err }, 'redis'));
 */
export function openRedis(endpoint: RedisEndpoint, options: OpenRedisOptions = {}): Redis {
  const opts = redisOptions(endpoint, options);
  // ioredis is loaded with the first connection: a gateway that uses no Redis never loads it.
  const { Redis: Client } = createRequire(import.meta.url)('ioredis') as typeof import('ioredis');
  return endpoint.kind === 'url' ? new Client(endpoint.url, opts) : new Client(opts);
}

/**
 * Redis connections for rate limits, and running the decision script on them.
 *
 * Failure behaviour is the point of this file. While Redis is down or slow, a request
 * must get the route's `onStoreError` answer promptly, never wait, and the process
 * must not crash; when Redis is back, limits apply again without a restart:
 *
 * - The connection fails a command at once while it is not ready, bounds each command by
 *   `redis.timeout`, follows Sentinel failovers and reconnects on READONLY: all in
 *   `openRedis` (src/redis/open.ts), shared with the cache and the outlier hints.
 * - After {@link FAILURES_BEFORE_FAST_FAIL} failures in a row only one command at a time
 *   goes to Redis (a probe); the others fail at once instead of each waiting out the
 *   timeout. The first success ends this.
 * - `error` events are always listened to (an unhandled `error` event would throw) and
 *   logged once per outage, with the recovery logged too.
 *
 * Connections are shared by every route with the same Redis (URL or Sentinel) and timeout, reference
 * counted: a config reload builds the new routes (taking a reference) before the old
 * ones are closed, so the connection survives reloads.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { describeRedisEndpoint, redisEndpointKey } from '../../config/redis-schema.js';
import { isClusterError, openRedis } from '../../redis/open.js';
import { RATE_LIMIT_SCRIPT } from './redis-script.js';
import type { RedisStoreConfig } from './schema.js';

/** Logging the rate limiter needs; a pino Logger is one. */
export interface StoreLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/** Failures in a row after which only one probe at a time goes to Redis. */
export const FAILURES_BEFORE_FAST_FAIL = 3;

const SCRIPT_SHA = createHash('sha1').update(RATE_LIMIT_SCRIPT).digest('hex');

/** One shared connection and its health. */
export class RedisConnection {
  readonly client: Redis;
  readonly key: string;
  refs = 0;
  private failures = 0;
  private probing = false;
  private down = false;
  private closing = false;
  private readonly url: string;
  private readonly logger: StoreLogger;

  constructor(config: RedisStoreConfig, logger: StoreLogger, key: string) {
    this.key = key;
    this.url = describeRedisEndpoint(config.endpoint);
    this.logger = logger;
    // Sentinel, READONLY after a failover, timeouts and backoff: see src/redis/open.ts.
    this.client = openRedis(config.endpoint, { timeoutMs: config.timeoutMs, autoPipelining: true });
    this.client.on('error', (err: Error) => this.markDown(err.message));
    this.client.on('close', () => this.markDown('connection closed'));
    this.client.on('ready', () => {
      // Load the script ahead of the first request; EVALSHA falls back to EVAL anyway.
      this.client.script('LOAD', RATE_LIMIT_SCRIPT).catch(() => {});
    });
  }

  /** True while the connection can take commands. */
  get ready(): boolean {
    return this.client.status === 'ready';
  }

  /**
   * Runs the decision script; resolves the integer reply, or null when Redis could not
   * decide (the caller applies `onStoreError`). Returns null synchronously, without
   * sending anything, when the connection is down or a probe is already out.
   */
  run(keys: readonly string[], args: readonly string[]): Promise<number[] | null> | null {
    if (this.client.status !== 'ready') {
      this.markDown(`not connected (${this.client.status})`);
      return null;
    }
    if (this.failures >= FAILURES_BEFORE_FAST_FAIL) {
      if (this.probing) return null;
      this.probing = true;
    }
    const argv: Array<string | number> = [SCRIPT_SHA, keys.length, ...keys, ...args];
    return this.client.call('evalsha', argv).then(
      (reply) => this.succeeded(reply, keys.length),
      (err: unknown) => {
        if (err instanceof Error && err.message.startsWith('NOSCRIPT')) {
          // Redis restarted or its script cache was flushed: EVAL also caches it again.
          argv[0] = RATE_LIMIT_SCRIPT;
          return this.client.call('eval', argv).then(
            (reply) => this.succeeded(reply, keys.length),
            (e: unknown) => this.failed(e),
          );
        }
        return this.failed(err);
      },
    );
  }

  private succeeded(reply: unknown, limits: number): number[] | null {
    this.probing = false;
    if (!isIntegerReply(reply, 1 + 4 * limits)) return this.failed(new Error(`unexpected reply from the rate-limit script: ${JSON.stringify(reply)}`));
    this.failures = 0;
    if (this.down) {
      this.down = false;
      this.logger.info({ redis: this.url }, 'rate limit store reachable again: limits apply');
    }
    return reply;
  }

  private failed(err: unknown): null {
    this.probing = false;
    if (err instanceof Error && err.name === 'ReplyError') {
      // Redis answered, with an error (a key of another type, a script killed, OOM):
      // the connection is fine, so this must not throttle every route to one probe.
      this.logRejected(isClusterError(err) ? `${err.message}: this Redis is a Cluster node, which rate limits cannot use (a route's limits run as one script over several keys); use one server or Sentinel` : err.message);
      return null;
    }
    this.failures++;
    this.markDown(err instanceof Error ? err.message : String(err));
    return null;
  }

  private lastRejectedLog = 0;

  private logRejected(reason: string): void {
    const now = Date.now();
    if (now - this.lastRejectedLog < 60_000) return;
    this.lastRejectedLog = now;
    this.logger.warn({ redis: this.url, reason }, 'rate limit script refused by Redis: routes apply their onStoreError setting (logged at most once a minute)');
  }

  private markDown(reason: string): void {
    if (this.down || this.closing) return;
    this.down = true;
    this.logger.warn({ redis: this.url, reason }, "rate limit store unavailable: routes apply their onStoreError setting ('allow' lets requests through, 'deny' refuses them with 503)");
  }

  /** Resolves once the connection is ready, or after `timeoutMs` (false then). */
  whenReady(timeoutMs: number): Promise<boolean> {
    if (this.ready) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.client.off('ready', onReady);
        resolve(ok);
      };
      const onReady = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.client.on('ready', onReady);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.client.status === 'ready') {
      await Promise.race([this.client.quit().catch(() => {}), new Promise((r) => setTimeout(r, 1000).unref())]);
    }
    this.client.disconnect();
  }
}

function isIntegerReply(reply: unknown, length: number): reply is number[] {
  if (!Array.isArray(reply) || reply.length !== length) return false;
  for (const v of reply) if (typeof v !== 'number') return false;
  return true;
}

/**
 * Shared connections by URL and timeout. The process has one ({@link defaultRedisConnections});
 * tests make their own to simulate separate gateway processes.
 */
export class RedisConnections {
  private readonly open = new Map<string, RedisConnection>();

  /** A connection for `config`, opened on first use; pair with {@link release}. */
  acquire(config: RedisStoreConfig, logger: StoreLogger): RedisConnection {
    const key = `${config.timeoutMs}|${redisEndpointKey(config.endpoint)}`;
    let conn = this.open.get(key);
    if (conn === undefined) {
      conn = new RedisConnection(config, logger, key);
      this.open.set(key, conn);
    }
    conn.refs++;
    return conn;
  }

  /** Drops a reference; the connection closes with its last one. */
  async release(conn: RedisConnection): Promise<void> {
    if (--conn.refs > 0) return;
    if (this.open.get(conn.key) === conn) this.open.delete(conn.key);
    await conn.close();
  }

  /** Number of open connections. */
  get size(): number {
    return this.open.size;
  }
}

/** The connections of this process. */
export const defaultRedisConnections = new RedisConnections();

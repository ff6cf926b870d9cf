/**
 * Self-registration into the Redis registry that Brisk's discovery reads (the multi-node
 * issue's "Redis registry"). The contract, stated in docs/contract.md:
 *
 * - key `brisk:registry:SERVICE:INSTANCE` holds JSON `{service, id, url, host, port,
 *   startedAt, meta}` with a TTL (`ttlMs`, default 10 s), rewritten every third of it;
 * - `PUBLISH brisk:registry:events {"event":"up"|"down", service, id, url}` on start and stop;
 * - on shutdown the key is deleted before the server stops accepting, so the balancer
 *   stops sending first. A crashed instance disappears when its TTL runs out.
 */
import type { Redis } from 'ioredis';
import { connectRedis, type RedisLocation } from '../redis.js';
import type { Logger } from '../observability.js';

export interface RegistrationOptions {
  /**
   * The registry's Redis: a URL (`redis://…`, or `redis+sentinel://s1:26379,s2:26379/NAME`
   * for the primary Sentinel names) or a Sentinel group `{ sentinels, name }` (redis.ts).
   * Through Sentinel the heartbeat follows a failover: the entry is renewed on the new
   * primary.
   */
  redis: RedisLocation;
  /** TTL of the entry (default 10000 ms). */
  ttlMs?: number;
  /** Free-form labels (zone, version…). */
  meta?: Record<string, string>;
  /** The address Brisk should use (default `http://HOST:PORT` of the listener). */
  advertiseUrl?: string;
}

export interface InstanceRecord {
  service: string;
  id: string;
  url: string;
  host: string;
  port: number;
  startedAt: string;
  meta: Record<string, string>;
}

export const REGISTRY_PREFIX = 'brisk:registry:';
export const REGISTRY_EVENTS = 'brisk:registry:events';

export class Registration {
  readonly #redis: Redis;
  readonly #record: InstanceRecord;
  readonly #ttlMs: number;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #failing = false;

  constructor(options: RegistrationOptions, record: InstanceRecord, log: Logger) {
    this.#record = record;
    this.#ttlMs = options.ttlMs ?? 10_000;
    this.#log = log;
    this.#redis = connectRedis(options.redis, { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 1000, retryStrategy: (n: number) => Math.min(100 * n, 2000) });
    this.#redis.on('error', () => {}); // reported by the heartbeat, once per outage
  }

  get key(): string {
    return `${REGISTRY_PREFIX}${this.#record.service}:${this.#record.id}`;
  }

  /** Registers now and keeps the entry alive. Never throws: the service serves anyway. */
  async start(): Promise<void> {
    await this.#beat(true);
    this.#timer = setInterval(() => void this.#beat(false), Math.max(100, Math.floor(this.#ttlMs / 3)));
    this.#timer.unref();
  }

  async #beat(announce: boolean): Promise<void> {
    try {
      if (this.#redis.status !== 'ready') await waitReady(this.#redis, 1000);
      await this.#redis.set(this.key, JSON.stringify(this.#record), 'PX', this.#ttlMs);
      if (announce || this.#failing) await this.#redis.publish(REGISTRY_EVENTS, JSON.stringify({ event: 'up', service: this.#record.service, id: this.#record.id, url: this.#record.url }));
      if (this.#failing) this.#log.info({ key: this.key }, 'registry: registered again');
      this.#failing = false;
    } catch (error) {
      if (!this.#failing) this.#log.warn({ code: 'BRISK_SVC_REGISTRY_UNAVAILABLE', key: this.key, err: error instanceof Error ? error.message : String(error) }, 'registry: could not register; serving anyway, retrying on the next heartbeat');
      this.#failing = true;
    }
  }

  /** Deletes the entry and announces the departure (best effort). */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    try {
      if (this.#redis.status === 'ready') {
        await this.#redis.del(this.key);
        await this.#redis.publish(REGISTRY_EVENTS, JSON.stringify({ event: 'down', service: this.#record.service, id: this.#record.id, url: this.#record.url }));
      }
    } catch (error) {
      this.#log.warn({ key: this.key, err: error instanceof Error ? error.message : String(error) }, 'registry: could not deregister; the entry expires with its TTL');
    }
    this.#redis.disconnect();
  }
}

function waitReady(redis: Redis, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', ready);
      reject(new Error(`Redis not ready within ${ms} ms (${redis.status})`));
    }, ms);
    function ready() {
      clearTimeout(timer);
      resolve();
    }
    redis.once('ready', ready);
  });
}

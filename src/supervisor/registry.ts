/**
 * Publishing the ready instances of supervised services in the Redis registry
 * (`services.NAME.register`), under the service toolkit's contract
 * (packages/service/docs/contract.md): `brisk:registry:SERVICE:INSTANCE` holds a JSON
 * record with a TTL, renewed every third of it, and `up`/`down` go on the events channel.
 * Brisk nodes on other machines then find the instances with `discovery.redis`.
 *
 * An instance is published once it is `ready` (its first health check passed) and
 * withdrawn as soon as it is not (draining, stopping, unhealthy): the other nodes stop
 * sending first, like the toolkit deleting its key before its listener closes. If this
 * Brisk dies without a word, the entries expire with their TTL.
 *
 * The connections come from `openRedis()` (`redis/open.ts`), as for rate limits and the
 * cache: one server or the primary Sentinel names, following failovers; ioredis is loaded
 * only when a service has `register`.
 */
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { describeRedisEndpoint, redisEndpointKey, type RedisEndpoint } from '../config/redis-schema.js';
import type { Logger } from '../observability/logger.js';
import { REGISTRY_EVENTS, REGISTRY_PREFIX } from '../providers/discovery/config/redis.js';
import type { RegisterConfig } from './config/types.js';

/** What the publisher needs of an instance. */
export interface PublishedInstance {
  readonly id: number;
  readonly port: number;
  readonly state: string;
  readonly startedAt: number;
}

interface Entry {
  readonly client: Redis;
  readonly redis: RedisEndpoint;
  readonly service: string;
  readonly url: string;
  readonly record: string;
  readonly ttlMs: number;
  beatAt: number;
}

export class RegistryPublisher {
  private readonly clients = new Map<string, Promise<Redis>>();
  private readonly entries = new Map<string, Entry>();
  private readonly failing = new Set<string>();
  private readonly node = hostname();
  private busy = false;

  constructor(private readonly logger: Logger) {}

  /**
   * Brings the registry in line with the instances now: publishes the ready ones (and
   * renews them every third of the TTL), withdraws the others. Cheap when nothing is due;
   * never throws (Redis errors are logged once per outage).
   */
  sync(services: readonly { readonly name: string; readonly register: RegisterConfig | null; readonly instances: readonly PublishedInstance[] }[]): void {
    if (this.busy) return;
    const now = Date.now();
    const wanted = new Map<string, { register: RegisterConfig; instance: PublishedInstance; name: string }>();
    for (const s of services) {
      if (s.register === null) continue;
      for (const i of s.instances) if (i.state === 'ready') wanted.set(this.keyOf(s.register, s.name, i), { register: s.register, instance: i, name: s.name });
    }
    const stale = [...this.entries.keys()].filter((k) => !wanted.has(k));
    const due = [...wanted].filter(([k, w]) => {
      const e = this.entries.get(k);
      return e === undefined || now - e.beatAt >= w.register.ttlMs / 3;
    });
    if (stale.length === 0 && due.length === 0) return;
    this.busy = true;
    void (async () => {
      for (const key of stale) await this.withdraw(key);
      for (const [key, w] of due) await this.publish(key, w.register, w.name, w.instance);
    })().finally(() => (this.busy = false));
  }

  /** Withdraws every entry (Brisk stops: before its instances get SIGTERM), then closes the connections. */
  async stop(): Promise<void> {
    while (this.busy) await new Promise((r) => setTimeout(r, 10));
    this.busy = true;
    for (const key of [...this.entries.keys()]) await this.withdraw(key);
    for (const c of this.clients.values()) (await c).disconnect();
    this.clients.clear();
  }

  private keyOf(register: RegisterConfig, service: string, i: PublishedInstance): string {
    return `${redisEndpointKey(register.redis)}\n${REGISTRY_PREFIX}${register.service}:${this.node}-${service}-${i.id}`;
  }

  private async publish(key: string, register: RegisterConfig, service: string, i: PublishedInstance): Promise<void> {
    const redisKey = key.slice(key.indexOf('\n') + 1);
    const known = this.entries.get(key);
    const url = `http://${register.advertiseHost.includes(':') ? `[${register.advertiseHost}]` : register.advertiseHost}:${i.port}`;
    const record =
      known?.record ??
      JSON.stringify({ service: register.service, id: `${this.node}-${service}-${i.id}`, url, host: register.advertiseHost, port: i.port, startedAt: new Date(i.startedAt).toISOString(), meta: { node: this.node, supervisedBy: 'brisk' } });
    try {
      const client = await this.client(register.redis);
      await client.set(redisKey, record, 'PX', register.ttlMs);
      if (known === undefined) await client.publish(REGISTRY_EVENTS, JSON.stringify({ event: 'up', service: register.service, id: `${this.node}-${service}-${i.id}`, url }));
      this.entries.set(key, { client, redis: register.redis, service: register.service, url, record, ttlMs: register.ttlMs, beatAt: Date.now() });
      this.recovered(register.redis);
    } catch (err) {
      this.failed(register.redis, err);
    }
  }

  private async withdraw(key: string): Promise<void> {
    const e = this.entries.get(key);
    if (e === undefined) return;
    this.entries.delete(key);
    const redisKey = key.slice(key.indexOf('\n') + 1);
    try {
      await e.client.del(redisKey);
      await e.client.publish(REGISTRY_EVENTS, JSON.stringify({ event: 'down', service: e.service, id: redisKey.slice(redisKey.lastIndexOf(':') + 1), url: e.url }));
    } catch (err) {
      // The entry expires with its TTL.
      this.failed(e.redis, err);
    }
  }

  private client(endpoint: RedisEndpoint): Promise<Redis> {
    const id = redisEndpointKey(endpoint);
    let c = this.clients.get(id);
    if (c === undefined) {
      c = import('../redis/open.js').then(({ openRedis }) => {
        const client = openRedis(endpoint, { timeoutMs: 1000 });
        client.on('error', () => {}); // reported by the next publish
        return new Promise<Redis>((resolve) => {
          // Resolved once connected or after a second: a command then fails at once (no offline queue) and is retried on the next tick.
          const done = () => resolve(client);
          client.once('ready', done);
          setTimeout(done, 1000).unref();
        });
      });
      this.clients.set(id, c);
    }
    return c;
  }

  private failed(endpoint: RedisEndpoint, err: unknown): void {
    const id = redisEndpointKey(endpoint);
    if (this.failing.has(id)) return;
    this.failing.add(id);
    const where = describeRedisEndpoint(endpoint);
    this.logger.warn({ code: 'BRISK_SERVICE_REGISTER_FAILED', redis: where, err: (err as Error).message }, `cannot publish service instances in the Redis registry ${where}; retrying (entries already there expire with their TTL)`);
  }

  private recovered(endpoint: RedisEndpoint): void {
    const where = describeRedisEndpoint(endpoint);
    if (this.failing.delete(redisEndpointKey(endpoint))) this.logger.info({ redis: where }, `publishing service instances in the Redis registry ${where} again`);
  }
}

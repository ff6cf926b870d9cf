/**
 * The two storage tiers: an in-process LRU bounded in bytes, and Redis shared by every
 * gateway node. Redis is an optimisation, never a dependency: every Redis operation has
 * a timeout, fails at once while the connection is down (no offline queue), and its
 * failure only means "not found" / "not written".
 */
import type { Redis } from 'ioredis';
import type { RedisEndpoint } from '../../config/redis-schema.js';
import { openRedis } from '../../redis/open.js';
import { decodeEntry, encodeEntry, type StoredResponse } from './entry.js';
import type { PolicyOptions } from './freshness.js';

/** Logging the stores need; a pino Logger is one. */
export interface CacheLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/** What can be purged. A URL key is `host/path?query`; a key without a host (`/path`) matches every host. */
export type PurgeSpec = { readonly url: string } | { readonly prefix: string } | { readonly tag: string };

/**
 * The memory tier: URL key → its variants (one per Vary selection), least recently used
 * first (a Map keeps insertion order; a hit moves the key to the end).
 */
export class MemoryStore {
  private readonly map = new Map<string, StoredResponse[]>();
  private bytes = 0;
  constructor(readonly maxBytes: number) {}

  get size(): number {
    return this.bytes;
  }

  get count(): number {
    return this.map.size;
  }

  /** The variants of a key, refreshed as most recently used. */
  get(key: string): StoredResponse[] | undefined {
    const v = this.map.get(key);
    if (v !== undefined && this.map.size > 1) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  /** Stores a variant, replacing the one with the same Vary selection. */
  put(e: StoredResponse): void {
    let variants = this.map.get(e.key);
    if (variants === undefined) {
      variants = [];
      this.map.set(e.key, variants);
    } else {
      this.map.delete(e.key);
      this.map.set(e.key, variants);
    }
    for (let i = 0; i < variants.length; i++) {
      const old = variants[i]!;
      if (sameSelection(old, e)) {
        this.bytes -= old.size;
        variants.splice(i, 1);
        break;
      }
    }
    variants.push(e);
    this.bytes += e.size;
    this.evict();
  }

  /** Adjusts the byte count after an entry's headers were updated in place. */
  resized(delta: number): void {
    this.bytes += delta;
    this.evict();
  }

  private evict(): void {
    while (this.bytes > this.maxBytes && this.map.size > 0) {
      const [key, variants] = this.map.entries().next().value as [string, StoredResponse[]];
      this.map.delete(key);
      for (const v of variants) this.bytes -= v.size;
    }
  }

  delete(key: string): number {
    const v = this.map.get(key);
    if (v === undefined) return 0;
    this.map.delete(key);
    for (const e of v) this.bytes -= e.size;
    return v.length;
  }

  removeVariant(e: StoredResponse): void {
    const v = this.map.get(e.key);
    if (v === undefined) return;
    const i = v.indexOf(e);
    if (i === -1) return;
    v.splice(i, 1);
    this.bytes -= e.size;
    if (v.length === 0) this.map.delete(e.key);
  }

  /** Removes what the spec names; returns how many variants went. */
  purge(spec: PurgeSpec): number {
    let n = 0;
    for (const [key, variants] of [...this.map]) {
      let hit = false;
      if ('url' in spec) hit = keyMatchesUrl(key, spec.url);
      else if ('prefix' in spec) hit = keyMatchesPrefix(key, spec.prefix);
      else hit = variants.some((e) => e.tags.includes(spec.tag));
      if (hit) n += this.delete(key);
    }
    return n;
  }

  clear(): void {
    this.map.clear();
    this.bytes = 0;
  }
}

function sameSelection(a: StoredResponse, b: StoredResponse): boolean {
  if (a.varyNames === null || b.varyNames === null) return a.varyNames === b.varyNames;
  if (a.varyNames.join(',') !== b.varyNames.join(',')) return false;
  for (let i = 0; i < a.varyValues.length; i++) if (a.varyValues[i] !== b.varyValues[i]) return false;
  return true;
}

/** The field of a variant in its Redis hash: its Vary selection. */
function variantField(e: StoredResponse): string {
  return e.varyNames === null ? '-' : JSON.stringify([e.varyNames, e.varyValues]);
}

/** `host/path?q` matches `host/path?q`, and `/path?q` matches it on any host. */
export function keyMatchesUrl(key: string, url: string): boolean {
  if (url.startsWith('/')) return key.slice(key.indexOf('/')) === url;
  return key === url;
}

export function keyMatchesPrefix(key: string, prefix: string): boolean {
  if (prefix.startsWith('/')) return key.slice(key.indexOf('/')).startsWith(prefix);
  return key.startsWith(prefix);
}

/**
 * Turns what an operator typed (`https://shop.example/a?b`, `shop.example/a`, `/a`) into
 * a key or key prefix as the cache writes them (host lower case, no scheme).
 */
export function normalizePurgeTarget(input: string): string {
  let s = input.trim();
  const scheme = /^https?:\/\//i.exec(s);
  if (scheme !== null) s = s.slice(scheme[0].length);
  if (s.startsWith('/')) return s;
  const slash = s.indexOf('/');
  const host = (slash === -1 ? s : s.slice(0, slash)).toLowerCase();
  return slash === -1 ? `${host}/` : host + s.slice(slash);
}

export interface RedisTierConfig {
  readonly endpoint: RedisEndpoint;
  readonly keyPrefix: string;
  readonly timeoutMs: number;
}

/**
 * The Redis tier. Layout, under `keyPrefix`:
 * - `e:<key>`: a hash, one field per Vary selection, each an encoded entry; expires with
 *   its longest-lived variant;
 * - `t:<tag>`: a set of keys carrying the tag, for purges by tag;
 * - channel `purge`: purges and invalidations, so other nodes drop their memory copies.
 */
export class RedisTier {
  private readonly client: Redis;
  private readonly sub: Redis;
  private down = false;
  private closed = false;
  /** Called with purges announced by any node (this one included). */
  onRemotePurge: ((spec: PurgeSpec, from: string) => void) | null = null;
  readonly nodeId = Math.random().toString(36).slice(2);

  constructor(
    readonly config: RedisTierConfig,
    private readonly logger: CacheLogger,
    private readonly routeName: string,
  ) {
    // Sentinel, READONLY after a failover, timeouts and backoff: see src/redis/open.ts.
    this.client = openRedis(config.endpoint, { timeoutMs: config.timeoutMs });
    this.client.on('error', (err: Error) => this.markDown(err.message));
    this.client.on('close', () => this.markDown('connection closed'));
    this.client.on('ready', () => {
      if (this.down) this.logger.info({ route: this.routeName }, 'cache: Redis is back; the shared tier is in use again');
      this.down = false;
    });
    // Subscriptions need their own connection; it re-subscribes after a reconnect.
    this.sub = openRedis(config.endpoint, { timeoutMs: config.timeoutMs, subscriber: true });
    this.sub.on('error', () => {});
    this.sub.subscribe(this.channel).catch(() => {});
    this.sub.on('message', (_channel: string, message: string) => {
      try {
        const m = JSON.parse(message) as { spec: PurgeSpec; from: string };
        this.onRemotePurge?.(m.spec, m.from);
      } catch {
        // Not ours.
      }
    });
  }

  private get channel(): string {
    return `${this.config.keyPrefix}purge`;
  }

  private markDown(reason: string): void {
    if (this.closed || this.down) return;
    this.down = true;
    this.logger.warn({ route: this.routeName, reason }, 'cache: Redis unavailable; serving from memory only until it is back');
  }

  get ready(): boolean {
    return this.client.status === 'ready';
  }

  /** The variants stored under a key; [] when none or when Redis cannot answer in time. */
  async get(key: string, options: PolicyOptions): Promise<StoredResponse[]> {
    if (!this.ready) return [];
    try {
      const fields = await this.client.hgetallBuffer(`${this.config.keyPrefix}e:${key}`);
      const out: StoredResponse[] = [];
      for (const name of Object.keys(fields)) {
        const e = decodeEntry(fields[name]!, options);
        if (e !== null) out.push(e);
      }
      return out;
    } catch {
      return [];
    }
  }

  /** Writes a variant; failures are ignored (the memory tier has it). */
  put(e: StoredResponse, ttlMs: number): void {
    if (!this.ready) return;
    const k = `${this.config.keyPrefix}e:${e.key}`;
    const ms = Math.max(1000, Math.ceil(ttlMs));
    const multi = this.client.multi().hset(k, variantField(e), encodeEntry(e));
    // Never shorten the life of other variants under the same key.
    multi.pexpire(k, ms, 'GT').pexpire(k, ms, 'NX');
    for (const tag of e.tags) {
      const t = `${this.config.keyPrefix}t:${tag}`;
      multi.sadd(t, e.key).pexpire(t, ms, 'GT').pexpire(t, ms, 'NX');
    }
    multi.exec().catch(() => {});
  }

  /** Deletes what the spec names and tells the other nodes. */
  async purge(spec: PurgeSpec): Promise<number> {
    if (!this.ready) return 0;
    const prefix = this.config.keyPrefix;
    let n = 0;
    try {
      if ('tag' in spec) {
        const t = `${prefix}t:${spec.tag}`;
        const keys = await this.client.smembers(t);
        if (keys.length > 0) n += await this.client.del(...keys.map((k) => `${prefix}e:${k}`));
        await this.client.del(t);
      } else if ('url' in spec && !spec.url.startsWith('/')) {
        n += await this.client.del(`${prefix}e:${spec.url}`);
      } else {
        // A prefix, or a path on any host: walk the keys with SCAN (never KEYS: it blocks Redis).
        const pattern = 'url' in spec ? `${prefix}e:*` : spec.prefix.startsWith('/') ? `${prefix}e:*` : `${prefix}e:${globEscape(spec.prefix)}*`;
        let cursor = '0';
        do {
          const [next, keys] = await this.client.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
          cursor = next;
          const hit = keys.filter((k) => {
            const key = k.slice(prefix.length + 2);
            return 'url' in spec ? keyMatchesUrl(key, spec.url) : keyMatchesPrefix(key, spec.prefix);
          });
          if (hit.length > 0) n += await this.client.del(...hit);
        } while (cursor !== '0');
      }
      await this.client.publish(this.channel, JSON.stringify({ spec, from: this.nodeId }));
    } catch {
      // Redis went away mid-purge: what was deleted is deleted; the memory tiers were purged.
    }
    return n;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.client.disconnect();
    this.sub.disconnect();
  }
}

function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}

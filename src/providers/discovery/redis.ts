/**
 * The Redis registry provider (`discovery.redis`), reading what the service toolkit
 * writes (packages/service/docs/contract.md): a key `PREFIX SERVICE:INSTANCE` per instance,
 * a JSON record with its `url`, set with a TTL and renewed every third of it; `up` and
 * `down` announced on a pub/sub channel.
 *
 * The view is a full `SCAN` of the service's keys (then `MGET`), so it is always complete
 * and never the sum of events that might have been missed. Scans happen at start, after
 * every announcement (debounced), after every keyspace notification for the service's keys
 * (when the server sends them: `notify-keyspace-events` with `K`, `g`, `$` and `x`; Brisk
 * does not change a server's configuration), after a reconnection, and every `interval`
 * (default 1 s) in any case — so an instance that crashed leaves within a second of its
 * entry expiring, well within one heartbeat. Each scan confirms the view (staleness).
 *
 * The connections come from `openRedis()` (`redis/open.ts`), like those of rate limits and
 * the cache: one server (`url`) or the primary Sentinel names (`sentinels` + `name`),
 * reconnecting on READONLY and on a Sentinel's failover announcement, with command
 * timeouts and no offline queue, so a command fails at once while Redis is down (a failed
 * scan keeps the last view) instead of piling up. Reads only: a replica would do, but the
 * primary is what the instances write to, so it is the freshest view.
 */
import { describeRedisEndpoint, type RedisEndpoint } from '../../config/redis-schema.js';
import { openRedis } from '../../redis/open.js';
import type { DiscoveredTarget, DiscoveryProvider, DiscoverySink, ProviderContext } from './config/contract.js';
import type { RedisDiscoveryConfig } from './config/types.js';
import { entryTarget } from './entries.js';

const DEBOUNCE_MS = 30;
const COMMAND_TIMEOUT_MS = 2000;

export function start(config: RedisDiscoveryConfig, sink: DiscoverySink, context: ProviderContext): DiscoveryProvider {
  const client = openRedis(config.endpoint, { timeoutMs: COMMAND_TIMEOUT_MS });
  // The subscriber needs its own connection, and an offline queue so that its subscriptions are replayed on reconnection.
  const sub = openRedis(config.endpoint, { subscriber: true });
  const where = describeRedisEndpoint(config.endpoint);
  client.on('error', () => {}); // reported by the next scan
  sub.on('error', () => {});
  const prefix = `${config.prefix}${config.service}:`;
  const pattern = `${globEscape(prefix)}*`;
  let stopped = false;
  let scanning = false;
  let again = false;
  let debounce: NodeJS.Timeout | null = null;

  const scan = async (): Promise<void> => {
    if (stopped) return;
    if (scanning) {
      again = true;
      return;
    }
    scanning = true;
    try {
      if (client.status !== 'ready') throw new Error(`Redis at ${where} is not connected (${client.status})`);
      const keys = new Set<string>();
      let cursor = '0';
      do {
        const [next, batch] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
        cursor = next;
        for (const k of batch) keys.add(k);
      } while (cursor !== '0');
      const list = [...keys].sort();
      const values = list.length === 0 ? [] : await client.mget(list);
      if (stopped) return;
      const targets: DiscoveredTarget[] = [];
      values.forEach((v, i) => {
        if (v === null) return; // expired between SCAN and MGET
        targets.push(recordTarget(list[i]!, v, context.scheme));
      });
      sink.answer(targets);
    } catch (err) {
      if (!stopped) sink.failed(`the Redis registry (${where}, ${prefix}*) did not answer: ${(err as Error).message}`);
    } finally {
      scanning = false;
      if (again && !stopped) {
        again = false;
        void scan();
      }
    }
  };
  const soon = (): void => {
    if (debounce !== null || stopped) return;
    debounce = setTimeout(() => {
      debounce = null;
      void scan();
    }, DEBOUNCE_MS);
  };

  sub.on('message', (_channel: string, message: string) => {
    // Only this service's announcements matter; anything unreadable is a reason to look.
    try {
      const m = JSON.parse(message) as { service?: unknown };
      if (m.service !== undefined && m.service !== config.service) return;
    } catch {
      // scan anyway
    }
    soon();
  });
  sub.on('pmessage', () => soon());
  // Queued until connected; ioredis subscribes again by itself after a reconnection.
  void sub.subscribe(config.channel).catch(() => {});
  void sub.psubscribe(`__keyspace@${dbOf(config.endpoint)}__:${pattern}`).catch(() => {});
  client.on('ready', () => void scan());
  const timer = setInterval(() => void scan(), config.intervalMs);
  timer.unref();
  // Until the first connection: report within the command timeout rather than wait for the interval.
  const first = setTimeout(() => {
    if (client.status !== 'ready') void scan();
  }, COMMAND_TIMEOUT_MS);
  first.unref();

  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      clearTimeout(first);
      if (debounce !== null) clearTimeout(debounce);
      client.disconnect();
      sub.disconnect();
    },
  };
}

/** A registry record (`{"url", …, "meta": {"weight"}}`) as a target; a bad one becomes an invalid URL the feed reports. */
function recordTarget(key: string, value: string, scheme: string): DiscoveredTarget {
  let record: unknown;
  try {
    record = JSON.parse(value);
  } catch {
    return { url: `(${key}) is not JSON` };
  }
  const meta = (record as { meta?: Record<string, unknown> } | null)?.meta;
  const weight = meta !== undefined && meta !== null && typeof meta === 'object' && meta['weight'] !== undefined ? Number(meta['weight']) : undefined;
  const t = entryTarget(weight === undefined ? record : { ...(record as object), weight }, scheme);
  return 'invalid' in t ? { url: `(${key}) ${t.invalid}` } : t;
}

function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** The database number keyspace notifications name: the URL's path, or Sentinel's `db`. */
function dbOf(endpoint: RedisEndpoint): number {
  if (endpoint.kind === 'sentinel') return endpoint.db;
  try {
    const n = Number(new URL(endpoint.url).pathname.slice(1) || '0');
    return Number.isInteger(n) ? n : 0;
  } catch {
    return 0;
  }
}

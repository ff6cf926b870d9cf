/** `discovery.redis`: the descriptor of the Redis registry provider. */
import { Type } from '../../../config/type-builder.js';
import type { PathProblem } from '../../../config/positions.js';
import { normalizeRedisConnection, redisConnectionProps } from '../../../config/redis-schema.js';
import { Duration, Strict } from '../../../config/schema-kit.js';
import { defineProvider } from './descriptor.js';
import type { RedisDiscoveryConfig } from './types.js';

/** The registry's key prefix and event channel: packages/service/docs/contract.md. */
export const REGISTRY_PREFIX = 'brisk:registry:';
export const REGISTRY_EVENTS = 'brisk:registry:events';

export const redisProvider = defineProvider({
  key: 'redis',
  schema: Strict(
    {
      // Where the registry is: one server (`url`) or Sentinel (`sentinels` and `name`), the keys every Redis user shares.
      ...redisConnectionProps(),
      service: Type.String({ minLength: 1, pattern: '^[^:*?\\[\\]\\s]+$', description: 'The service name instances register under (the `name` of a toolkit service).' }),
      prefix: Type.Optional(Type.String({ minLength: 1, default: REGISTRY_PREFIX, description: 'Key prefix of the registry.' })),
      channel: Type.Optional(Type.String({ minLength: 1, default: REGISTRY_EVENTS, description: 'The channel instances announce `up` and `down` on.' })),
      interval: Type.Optional(Duration('Scan the registry at least this often: an instance that crashed disappears when its entry expires, and the next scan (or an expiry notification, when the server sends them) sees it.', '1s')),
    },
    'The Redis registry: every instance writes `PREFIX SERVICE:INSTANCE` with a TTL and renews it (the service toolkit does it when `registration` is set); a crashed instance drops out when its entry expires.',
  ),
  normalize(check, at, raw): RedisDiscoveryConfig {
    const intervalMs = check.duration([...at, 'interval'], raw.interval, 1000);
    if (intervalMs < 100) check.problem([...at, 'interval'], 'an interval under 100ms would scan the registry in a loop');
    const problems: PathProblem[] = [];
    const endpoint = normalizeRedisConnection(raw, [], problems);
    for (const p of problems) check.problem([...at, ...p.path], p.message, p.at);
    // An endpoint in error has been reported: the placeholder is never opened.
    return { kind: 'redis', endpoint: endpoint ?? { kind: 'url', url: 'redis://127.0.0.1:6379' }, service: raw.service, prefix: raw.prefix ?? REGISTRY_PREFIX, channel: raw.channel ?? REGISTRY_EVENTS, intervalMs };
  },
  identity: (c) => `redis ${c.prefix}${c.service}`,
  load: () => import('../redis.js'),
});

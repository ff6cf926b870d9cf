/**
 * The route cache: an RFC 9111 shared cache in the route pipeline. Hits from memory are
 * answered synchronously; misses go through the normal exchange (balancing, retries,
 * breaker) while a capture watches the response stream to the client and stores it when
 * it may. See README.md in this folder for the design and docs/cache.md for users.
 */
import { CacheMiddleware } from './middleware.js';
import type { CacheConfig } from './schema.js';
import type { CacheLogger } from './store.js';

export { CacheMiddleware, type CacheStats } from './middleware.js';
export { CacheSchema, normalizeCache, type CacheConfig, type RawCache } from './schema.js';
export type { PurgeSpec } from './store.js';
export { ttlOf } from './entry.js';
export { cacheKey, varyValue } from './variants.js';

/** Builds a route's cache. */
export function createCache(config: CacheConfig, deps: { logger: CacheLogger; routeName: string; gatewayCors?: boolean }): CacheMiddleware {
  return new CacheMiddleware(config, deps.routeName, deps.logger, deps.gatewayCors ?? false);
}

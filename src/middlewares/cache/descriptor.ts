/**
 * The `cache` route key. After auth and rate limits: what they refuse never reaches the
 * cache, and a stored response is only served to a request that passed them. It needs
 * to know whether the gateway answers CORS for the route (`cors`), so that is part of
 * its reuse key.
 */
import { defineMiddleware } from '../descriptor.js';
import { CacheSchema, normalizeCache } from './schema.js';

export const cacheDescriptor = defineMiddleware({
  key: 'cache',
  schema: CacheSchema,
  order: 500,
  // A default cache is each route's own: its store, counters and CORS setting are the route's.
  defaultScope: 'route',
  normalize: (raw) => normalizeCache(raw),
  reuseKey: (config, { route }) => [config, route.has('cors')],
  load: () => import('./index.js'),
  create: (m, config, { route, deps }) => m.createCache(config, { logger: deps.logger, routeName: route.name, gatewayCors: route.has('cors') }),
});

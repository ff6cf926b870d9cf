/**
 * The `rateLimit` route key. After `auth`, so that an anonymous flood is refused before it
 * costs a token check and limits can key on who the client is.
 */
import { defineMiddleware } from '../descriptor.js';
import { normalizeRateLimit, RateLimitSchema } from './schema.js';

export const rateLimitDescriptor = defineMiddleware({
  key: 'rateLimit',
  schema: RateLimitSchema,
  order: 400,
  normalize: (raw) => normalizeRateLimit(raw),
  load: () => import('./index.js'),
  create: (m, config, { route, deps }) => m.createRateLimit(config, { logger: deps.logger, routeName: route.name }),
});

/**
 * The `rateLimit` route key. It takes two places in the pipeline: limits counted by client
 * address (`beforeAuth`, the default for `key: ip`) run before `auth`, so that requests
 * auth refuses are limited too (a client guessing keys is slowed down before any key is
 * checked, and a flood costs no password hashing); the others run after it, where they
 * can count by who the client is and anonymous requests cannot use them up. A gateway-wide
 * default (`defaults.rateLimit`) is one middleware for every route: one bucket per client.
 */
import type { MiddlewareStage } from '../descriptor.js';
import { defineMiddleware } from '../descriptor.js';
import { normalizeRateLimit, RateLimitSchema, type RateLimitConfig } from './schema.js';

/** Where the limits counted before auth run: after cors (200), before auth (300). */
export const BEFORE_AUTH_ORDER = 250;

/** After auth (300), before the cache (500). */
const AFTER_AUTH_ORDER = 400;

export const rateLimitDescriptor = defineMiddleware({
  key: 'rateLimit',
  schema: RateLimitSchema,
  order: AFTER_AUTH_ORDER,
  stages: (config: RateLimitConfig) => stagesOf(config),
  normalize: (raw) => normalizeRateLimit(raw),
  load: () => import('./index.js'),
  create: (m, config: RateLimitConfig, { route, deps }) =>
    m.createRateLimit(config, { logger: deps.logger, routeName: route.name, ...(route.shared ? { subject: 'the gateway-wide defaults.rateLimit' } : {}) }),
});

/** The limits counted before auth and those counted after it, each stage with the store settings. */
function stagesOf(config: RateLimitConfig): MiddlewareStage<RateLimitConfig>[] {
  const before = config.limits.filter((l) => l.beforeAuth);
  const after = config.limits.filter((l) => !l.beforeAuth);
  const stages: MiddlewareStage<RateLimitConfig>[] = [];
  if (before.length > 0) stages.push({ order: BEFORE_AUTH_ORDER, config: before.length === config.limits.length ? config : { ...config, limits: before } });
  if (after.length > 0) stages.push({ order: AFTER_AUTH_ORDER, config: after.length === config.limits.length ? config : { ...config, limits: after } });
  return stages;
}

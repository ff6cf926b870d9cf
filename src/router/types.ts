import type { RouteConfig } from '../config/types.js';

/**
 * Route parameters by name: `:name` segments of a path pattern (`*` for the rest after a
 * trailing `*` segment) or named groups of a `pathRegex`. Values are percent-decoded
 * (the raw text is kept when it is not valid percent-encoding).
 *
 * @example
 * // route path `/users/:id/files/*`, request `/users/J%C3%BCrgen/files/a/b.txt`
 * const params: RouteParams = { id: 'Jürgen', '*': 'a/b.txt' };
 */
export type RouteParams = Record<string, string>;

/**
 * Header edits of one route, compiled once: removals, then `set` (remove, then append),
 * then `add` (append). Values may hold `${param}` and `${requestId}` placeholders.
 *
 * @example
 * const raw = ['Host', 'a.example', 'X-Debug', '1'];
 * editor.apply(raw, { id: '42' }, 'req-1'); // mutates `raw` in place
 */
export interface HeaderEditor {
  /**
   * Edits a flat raw header list `[name, value, name, value, ...]` in place. Names in
   * `raw` may be in any case; removal compares them case-insensitively. Placeholders
   * missing from `params` become ''. Characters that may not appear in a header value
   * (control characters, anything outside printable ASCII) coming from a parameter are
   * percent-encoded, so a crafted path can never inject a header or make Node throw.
   */
  apply(raw: string[], params: RouteParams | null, requestId: string): void;
}

/**
 * One route, compiled. Everything here is built once per configuration version and
 * shared by every request the route takes.
 */
export interface CompiledRoute {
  /** The route's unique name (logs, metrics, admin API). */
  readonly name: string;
  /** Position in the file: the last tie-breaker, and the key of per-route tables. */
  readonly index: number;
  /** The upstream's name; '' for an aggregate route. */
  readonly upstreamName: string;
  /** The path as a template for traces (`http.route`), or undefined when the route matches any path. */
  readonly template: string | undefined;
  /** The normalised configuration the route was compiled from. */
  readonly config: RouteConfig;
  /**
   * Rewrites the path (without the query) in the order stripPrefix, path template,
   * addPrefix; `null` when the route rewrites nothing. The result always starts with
   * `/` and joining never produces `//`.
   *
   * Pass the request path the route matched and the params of that match: template
   * placeholders are then filled with the parameter text exactly as received (still
   * percent-encoded). If `path` does not match the route, the decoded `params` are
   * percent-encoded instead.
   *
   * @example
   * // route path `/api/users/:id`, rewrite.path `/v2/people/:id`
   * route.rewritePath!('/api/users/42', { id: '42' }); // '/v2/people/42'
   */
  readonly rewritePath: ((path: string, params: RouteParams | null) => string) | null;
  /** Edits of the request headers sent upstream, or `null` when none. */
  readonly requestHeaderEdits: HeaderEditor | null;
  /** Edits of the response headers sent to the client, or `null` when none. */
  readonly responseHeaderEdits: HeaderEditor | null;
}

/** The route a request matched and its parameters (`null` when the route has none). */
export interface RouteMatchResult {
  readonly route: CompiledRoute;
  readonly params: RouteParams | null;
}

/**
 * The routing table of one configuration version. Immutable: a reload compiles a new
 * router and swaps it in whole.
 */
export interface Router {
  /**
   * Finds the most specific route that takes the request, or `null`.
   *
   * Never throws, whatever the input.
   *
   * @param method  Request method, compared case-sensitively with the upper-cased config.
   * @param host    `Host` header or `:authority`; may include a port and any case.
   * @param path    The path without the query, exactly as received (still percent-encoded).
   * @param query   The raw query string without `?`; '' when none.
   * @param headers Request headers with lower-case names (as Node gives them); only read
   *                when some candidate route has header conditions.
   *
   * @example
   * const hit = router.match('GET', 'api.example.com:8443', '/users/42', '', req.headers);
   * if (hit === null) reply404();
   * else forward(hit.route, hit.params);
   */
  match(
    method: string,
    host: string | undefined,
    path: string,
    query: string,
    headers: Readonly<Record<string, string | string[] | undefined>>,
  ): RouteMatchResult | null;
  /** Every compiled route, in file order (`config.index`). */
  readonly routes: readonly CompiledRoute[];
}

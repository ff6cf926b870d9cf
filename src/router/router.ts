/**
 * The routing table, compiled once per configuration version.
 *
 * Layout: routes are bucketed by host (a Map of exact hosts, wildcard suffixes longest
 * first, one catch-all). Inside a bucket the candidates are already in specificity order:
 * a Map of exact paths, then parameter patterns, regexes, prefixes (longest first) and
 * routes with no path condition, the non-exact ones indexed by first path segment.
 * `match()` walks the buckets from the most specific host to the least and, inside each,
 * the candidates in order; the first whose remaining conditions (methods, headers, query)
 * hold wins. So the order of the file never matters except as the last tie-breaker, and
 * nothing is sorted or allocated per request: a route without parameters returns a result
 * object built at compile time.
 *
 * Files: entry.ts compiles one route into what the matcher reads; bucket.ts holds the
 * routes of one host in precedence order and matches within it; host.ts normalises
 * hosts; this file buckets the routes by host and walks the buckets.
 */

import type { RouteConfig } from '../config/types.js';
import { Bucket, matchBucket, type Headers } from './bucket.js';
import { compileEntry, configError } from './entry.js';
import { HostCache, isNormalHost, normalizeHost } from './host.js';
import type { CompiledRoute, RouteMatchResult, Router } from './types.js';

export { regexLiteralPrefix } from './entry.js';
export { normalizeHost } from './host.js';

interface WildcardBucket {
  /** `.example.com` for `*.example.com`. */
  readonly suffix: string;
  readonly bucket: Bucket;
}

class CompiledRouter implements Router {
  readonly routes: readonly CompiledRoute[];
  private readonly exactHosts: Map<string, Bucket>;
  private readonly wildcards: readonly WildcardBucket[];
  private readonly anyHost: Bucket | null;
  private readonly hostsUsed: boolean;
  private readonly hostCache = new HostCache();

  constructor(routes: CompiledRoute[], exactHosts: Map<string, Bucket>, wildcards: WildcardBucket[], anyHost: Bucket | null) {
    this.routes = Object.freeze(routes);
    this.exactHosts = exactHosts;
    this.wildcards = wildcards;
    this.anyHost = anyHost;
    this.hostsUsed = exactHosts.size !== 0 || wildcards.length !== 0;
  }

  match(method: string, host: string | undefined, path: string, query: string, headers: Headers): RouteMatchResult | null {
    // Types are not a guarantee at the edge of the process: never throw on odd input.
    if (typeof path !== 'string') return null;
    if (typeof query !== 'string') query = '';
    if (headers === null || typeof headers !== 'object') headers = EMPTY_HEADERS;
    if (this.hostsUsed && typeof host === 'string' && host.length !== 0) {
      const h = isNormalHost(host) ? host : this.hostCache.get(host);
      if (this.exactHosts.size !== 0) {
        const b = this.exactHosts.get(h);
        if (b !== undefined) {
          const r = matchBucket(b, method, path, query, headers);
          if (r !== null) return r;
        }
      }
      const wildcards = this.wildcards;
      for (let i = 0; i < wildcards.length; i++) {
        const w = wildcards[i]!;
        // Longer than the suffix: at least one label before it, so `example.com` itself is not taken.
        if (h.length > w.suffix.length && h.endsWith(w.suffix)) {
          const r = matchBucket(w.bucket, method, path, query, headers);
          if (r !== null) return r;
        }
      }
    }
    return this.anyHost === null ? null : matchBucket(this.anyHost, method, path, query, headers);
  }

  /** Route names in the order `match()` tries them for a given host (tests, admin API). */
  candidateOrder(host: string | undefined): string[] {
    const names: string[] = [];
    if (host !== undefined && host !== '') {
      const h = normalizeHost(host);
      const b = this.exactHosts.get(h);
      if (b !== undefined) names.push(...b.ordered().map((e) => e.route.name));
      for (const w of this.wildcards) {
        if (h.length > w.suffix.length && h.endsWith(w.suffix)) names.push(...w.bucket.ordered().map((e) => e.route.name));
      }
    }
    if (this.anyHost !== null) names.push(...this.anyHost.ordered().map((e) => e.route.name));
    return names;
  }
}

const EMPTY_HEADERS: Headers = Object.freeze({});

/**
 * Compiles the routes of one configuration version into a router.
 *
 * Precedence, most specific first: exact host, then wildcard host (longer suffix first),
 * then any host — a request that no route of its host takes falls back to the next; then
 * exact path, parameter pattern (more literal segments, then more segments, then without
 * `*`, then literals further left), regex, prefix (longer first), no path condition; then
 * the route with more conditions (methods given counts one, each header and query
 * condition one); then file order (`index`).
 *
 * Hosts: `*.example.com` takes one or more labels before `example.com`
 * (`a.example.com`, `a.b.example.com`) but not `example.com` itself. Paths are matched
 * case-sensitively as received, so `/a%2Fb` is one segment; parameters are decoded.
 *
 * @throws BriskError `BRISK_CONFIG_INVALID` naming the route, for an invalid regular
 *   expression, a malformed path pattern, a `*` in a host other than `*.domain`, or a
 *   template placeholder the route cannot fill.
 *
 * @example
 * const router = compileRouter(config.routes);
 * const hit = router.match(req.method, req.headers.host, path, query, req.headers);
 */
export function compileRouter(routes: readonly RouteConfig[]): Router {
  const ordered = [...routes].sort((a, b) => a.index - b.index);
  const entries = ordered.map(compileEntry);
  const exactHosts = new Map<string, Bucket>();
  const wildcardMap = new Map<string, Bucket>();
  let anyHost: Bucket | null = null;
  for (const e of entries) {
    const hosts = new Set(e.route.config.match.hosts.map(normalizeHost));
    for (const h of hosts) {
      if (h.includes('*') && h !== '*' && !(h.startsWith('*.') && h.length > 2 && !h.includes('*', 1))) {
        throw configError(e.route.config, `match.host "${h}": a wildcard is only allowed as a whole first label, as in "*.example.com"`);
      }
    }
    if (hosts.size === 0 || hosts.has('*')) {
      anyHost ??= new Bucket();
      anyHost.add(e);
      continue;
    }
    for (const h of hosts) {
      if (h.startsWith('*.')) {
        const suffix = h.slice(1);
        let b = wildcardMap.get(suffix);
        if (b === undefined) wildcardMap.set(suffix, (b = new Bucket()));
        b.add(e);
      } else {
        let b = exactHosts.get(h);
        if (b === undefined) exactHosts.set(h, (b = new Bucket()));
        b.add(e);
      }
    }
  }
  for (const b of exactHosts.values()) b.seal();
  for (const b of wildcardMap.values()) b.seal();
  anyHost?.seal();
  const wildcards = [...wildcardMap]
    .map(([suffix, bucket]) => ({ suffix, bucket }))
    .sort((a, b) => b.suffix.length - a.suffix.length || (a.suffix < b.suffix ? -1 : 1));
  return new CompiledRouter(
    entries.map((e) => e.route),
    exactHosts,
    wildcards,
    anyHost,
  );
}

/**
 * Route names in the order a router tries them for `host`, most specific first. For
 * tests and the admin API's "explain"; not for the request path.
 */
export function candidateOrder(router: Router, host?: string): string[] {
  return router instanceof CompiledRouter ? router.candidateOrder(host) : [];
}

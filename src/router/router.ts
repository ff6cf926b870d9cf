/**
 * The routing table, compiled once per configuration version.
 *
 * Layout: routes are bucketed by host (a Map of exact hosts, wildcard suffixes longest
 * first, one catch-all). Inside a bucket the candidates are already in specificity order:
 * a Map of exact paths, then parameter patterns, regexes, prefixes (longest first) and
 * routes with no path condition, the non-exact ones indexed by first path segment. `match()` walks the buckets from the most specific host
 * to the least and, inside each, the candidates in order; the first whose remaining
 * conditions (methods, headers, query) hold wins. So the order of the file never matters
 * except as the last tie-breaker, and nothing is sorted or allocated per request: a route
 * without parameters returns a result object built at compile time.
 */

import type { RouteConfig, StringMatcher } from '../config/types.js';
import { BriskError } from '../core/errors.js';
import { HeaderCondition, QueryCondition, ValueMatcher, safeTest } from './conditions.js';
import { compileHeaderEdits } from './header-editor.js';
import { PathPattern, decodeParam, hasPathPrefix, regionEquals } from './path-pattern.js';
import { compileRewrite, type RawParamReader } from './rewrite.js';
import type { CompiledRoute, RouteMatchResult, RouteParams, Router } from './types.js';

const SLASH = 47;

type Headers = Readonly<Record<string, string | string[] | undefined>>;

/** Path kinds in precedence order; the number is the tier. */
const EXACT = 0;
const PATTERN = 1;
const REGEX = 2;
const PREFIX = 3;
const ANY_PATH = 4;

/** A route as the matcher sees it: its primary path condition and its other conditions. */
interface Entry {
  readonly route: CompiledRoute;
  readonly index: number;
  readonly kind: number;
  readonly exactPath: string;
  readonly pattern: PathPattern | null;
  readonly regex: RegExp | null;
  /** True when the regex has named groups, so a match has params. */
  readonly regexHasGroups: boolean;
  /** Literal text every match starts with (from a leading `^/api/`), checked before running the regex. */
  readonly regexPrefix: string;
  readonly prefix: string;
  /** Allowed methods (GET implies HEAD), or null for any. */
  readonly methods: ReadonlySet<string> | null;
  readonly headers: readonly HeaderCondition[] | null;
  readonly query: readonly QueryCondition[] | null;
  /** Path conditions beyond the primary one (a route may give path and pathPrefix, say). */
  readonly extraPath: ((path: string) => boolean) | null;
  readonly conditionCount: number;
  /** Hash of the first path segment the route requires, or -1 when any will do. */
  readonly segmentKey: number;
  /** The shared, frozen result for matches without parameters. */
  readonly result: RouteMatchResult;
}

/** An entry placed in one bucket, with its position in that bucket's precedence order. */
interface Ranked extends Entry {
  readonly rank: number;
}

/**
 * The routes of one host (or of any host). Exact paths sit in a Map. The others are
 * indexed by the first path segment they require (`/users/:id`, `/api` as a prefix and
 * `^/re/` as a regex all require one), so a request only looks at the routes of its own
 * first segment plus the few that take any first segment, merged back into precedence
 * order by rank. A table of many services costs about as much per request as a table of one.
 */
class Bucket {
  readonly exact = new Map<string, Entry[]>();
  /** Entries that need a given first segment, by segment hash; each list in rank order. */
  readonly bySegment = new Map<number, Ranked[]>();
  /** Entries any first segment may match, in rank order. */
  readonly generic: Ranked[] = [];
  private pending: Entry[] = [];

  add(e: Entry): void {
    if (e.kind === EXACT) {
      const list = this.exact.get(e.exactPath);
      if (list === undefined) this.exact.set(e.exactPath, [e]);
      else list.push(e);
    } else {
      this.pending.push(e);
    }
  }

  seal(): void {
    for (const list of this.exact.values()) list.sort(compareEntries);
    this.pending.sort(compareEntries);
    this.pending.forEach((e, rank) => {
      const r: Ranked = { ...e, rank };
      if (e.segmentKey < 0) {
        this.generic.push(r);
      } else {
        const list = this.bySegment.get(e.segmentKey);
        if (list === undefined) this.bySegment.set(e.segmentKey, [r]);
        else list.push(r);
      }
    });
    this.pending = [];
  }

  /** Candidates in the order `match()` tries them (before path filtering), for tests and the admin API. */
  ordered(): Entry[] {
    const rest = [...this.generic, ...[...this.bySegment.values()].flat()].sort((a, b) => a.rank - b.rank);
    return [...[...this.exact.values()].flat(), ...rest];
  }
}

/**
 * A hash of s[start, end) for the first-segment index. Collisions only cost a wasted
 * check: every candidate is still matched in full. Kept in Smi range so Map keys stay cheap.
 */
function segmentHash(s: string, start: number, end: number): number {
  let h = 0;
  for (let i = start; i < end; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h & 0x3fffffff;
}

/** The hash of the request path's first segment, or -1 when the path does not start with `/`. */
function firstSegmentHash(path: string): number {
  if (path.charCodeAt(0) !== SLASH) return -1;
  let h = 0;
  for (let i = 1; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === SLASH) break;
    h = (Math.imul(h, 31) + c) | 0;
  }
  return h & 0x3fffffff;
}

/** The hash of the first segment every path of `text` (a pattern's literal, a prefix...) has, or -1. */
function requiredSegmentKey(kind: number, pattern: PathPattern | null, regexPrefix: string, prefix: string): number {
  let text: string;
  let wholeIfNoSlash: boolean;
  if (kind === PATTERN) {
    const lit = pattern!.firstLiteral;
    return lit === null ? -1 : segmentHash(lit, 0, lit.length);
  } else if (kind === REGEX) {
    text = regexPrefix;
    wholeIfNoSlash = false; // `^/re` may go on as `/rex`: only a `/` after the segment fixes it
  } else if (kind === PREFIX) {
    text = prefix;
    wholeIfNoSlash = true; // prefixes match on segment boundaries: `/api` means segment `api`
  } else {
    return -1;
  }
  if (text.charCodeAt(0) !== SLASH || text.length === 1) return -1;
  const slash = text.indexOf('/', 1);
  if (slash === -1) return wholeIfNoSlash ? segmentHash(text, 1, text.length) : -1;
  return segmentHash(text, 1, slash);
}

/**
 * Orders two routes of the same bucket and path kind: the more specific first. Total and
 * deterministic, so the winner never depends on the order routes were written in, except
 * through `index` as the documented last tie-breaker.
 */
function compareEntries(a: Entry, b: Entry): number {
  if (a.kind !== b.kind) return a.kind - b.kind;
  if (a.kind === PATTERN) {
    const pa = a.pattern!;
    const pb = b.pattern!;
    if (pa.staticCount !== pb.staticCount) return pb.staticCount - pa.staticCount;
    if (pa.fixedCount !== pb.fixedCount) return pb.fixedCount - pa.fixedCount;
    if (pa.hasRest !== pb.hasRest) return pa.hasRest ? 1 : -1;
    if (pa.shape !== pb.shape) return pa.shape < pb.shape ? -1 : 1;
  } else if (a.kind === PREFIX) {
    if (a.prefix.length !== b.prefix.length) return b.prefix.length - a.prefix.length;
  }
  if (a.conditionCount !== b.conditionCount) return b.conditionCount - a.conditionCount;
  if (a.index !== b.index) return a.index - b.index;
  return a.route.name < b.route.name ? -1 : a.route.name > b.route.name ? 1 : 0;
}

function conditionsHold(e: Entry, method: string, path: string, query: string, headers: Headers): boolean {
  if (e.methods !== null && !e.methods.has(method)) return false;
  const hs = e.headers;
  if (hs !== null) {
    for (let i = 0; i < hs.length; i++) if (!hs[i]!.test(headers)) return false;
  }
  const qs = e.query;
  if (qs !== null) {
    for (let i = 0; i < qs.length; i++) if (!qs[i]!.test(query)) return false;
  }
  return e.extraPath === null || e.extraPath(path);
}

function matchBucket(b: Bucket, method: string, path: string, query: string, headers: Headers): RouteMatchResult | null {
  if (b.exact.size !== 0) {
    const list = b.exact.get(path);
    if (list !== undefined) {
      for (let i = 0; i < list.length; i++) {
        const e = list[i]!;
        if (conditionsHold(e, method, path, query, headers)) return e.result;
      }
    }
  }
  const seg = b.bySegment.size === 0 ? undefined : b.bySegment.get(firstSegmentHash(path));
  const gen = b.generic;
  const segLen = seg === undefined ? 0 : seg.length;
  let i = 0;
  let j = 0;
  // Merge the two rank-ordered lists: the overall order is the precedence order.
  while (i < segLen || j < gen.length) {
    let e: Ranked;
    if (i < segLen && (j >= gen.length || seg![i]!.rank < gen[j]!.rank)) e = seg![i++]!;
    else e = gen[j++]!;
    const r = tryEntry(e, method, path, query, headers);
    if (r !== null) return r;
  }
  return null;
}

function tryEntry(e: Entry, method: string, path: string, query: string, headers: Headers): RouteMatchResult | null {
  switch (e.kind) {
    case PATTERN: {
      const p = e.pattern!;
      // test() fills the pattern's offsets; conditionsHold() never touches them, so they
      // are still this path's when params() reads them.
      if (p.test(path) && conditionsHold(e, method, path, query, headers)) return { route: e.route, params: p.params(path) };
      return null;
    }
    case REGEX: {
      if (e.regexPrefix.length !== 0 && !regionEquals(path, 0, e.regexPrefix)) return null;
      const m = safeExec(e.regex!, path);
      if (m === null || !conditionsHold(e, method, path, query, headers)) return null;
      return e.regexHasGroups ? { route: e.route, params: groupsToParams(m, true) } : e.result;
    }
    case PREFIX:
      return hasPathPrefix(path, e.prefix) && conditionsHold(e, method, path, query, headers) ? e.result : null;
    default:
      return conditionsHold(e, method, path, query, headers) ? e.result : null;
  }
}

function safeExec(re: RegExp, path: string): RegExpExecArray | null {
  try {
    return re.exec(path);
  } catch {
    return null;
  }
}

/** Named groups as params; unmatched optional groups are left out. */
function groupsToParams(m: RegExpExecArray, decode: boolean): RouteParams {
  const out: RouteParams = {};
  const groups = m.groups;
  if (groups === undefined) return out;
  for (const name in groups) {
    const v = groups[name];
    // `__proto__` as a plain-object key would set the prototype, not a param.
    if (v === undefined || name === '__proto__') continue;
    out[name] = decode ? decodeParam(v) : v;
  }
  return out;
}

/**
 * The literal text a regex anchored with `^` requires at the start (`^/api/v[0-9]` gives
 * `/api/v`), so that a cheap startsWith() can skip the regex for most paths. Conservative:
 * any alternation, class, group or other syntax ends the literal, a quantifier takes back
 * the character before it, and anything unsure gives ''.
 */
export function regexLiteralPrefix(source: string): string {
  if (source.charCodeAt(0) !== 94 /* ^ */ || source.includes('|')) return '';
  let out = '';
  let i = 1;
  while (i < source.length) {
    const c = source[i]!;
    if (c === '\\') {
      const next = source[i + 1];
      // Only escaped punctuation is a plain literal (`\/`, `\.`); `\d`, `\b`, `\1`... are not.
      if (next === undefined || /[A-Za-z0-9]/.test(next)) break;
      out += next;
      i += 2;
      continue;
    }
    if ('^$.|?*+()[]{}'.includes(c)) break;
    out += c;
    i++;
  }
  const q = source[i];
  if (q === '?' || q === '*' || q === '+' || q === '{') out = out.slice(0, -1);
  return out;
}

/** Names of the named groups of `re`, found by matching the empty alternative. */
function regexGroupNames(re: RegExp): string[] {
  const probe = new RegExp(`(?:${re.source})|`, re.flags.replace(/[gy]/g, ''));
  const groups = probe.exec('')?.groups;
  return groups === undefined ? [] : Object.keys(groups);
}

/**
 * Normalises a host from a request or the config: the port cut off (`[v6]:port` kept in
 * brackets), a trailing dot dropped (`example.com.` is `example.com`), lower-cased.
 */
export function normalizeHost(host: string): string {
  let end = host.length;
  if (host.charCodeAt(0) === 91 /* [ */) {
    const close = host.indexOf(']');
    if (close !== -1) end = close + 1;
  } else {
    const colon = host.indexOf(':');
    if (colon !== -1) end = colon;
  }
  if (end > 0 && host.charCodeAt(end - 1) === 46 /* . */) end--;
  const cut = end === host.length ? host : host.slice(0, end);
  // toLowerCase() copies even when nothing changes, so only call it when needed.
  for (let i = 0; i < cut.length; i++) {
    const c = cut.charCodeAt(i);
    if ((c >= 65 && c <= 90) || c > 127) return cut.toLowerCase();
  }
  return cut;
}

/** True when normalizeHost(host) would return `host` itself: the common case, checked without allocating. */
function isNormalHost(host: string): boolean {
  const n = host.length;
  for (let i = 0; i < n; i++) {
    const c = host.charCodeAt(i);
    if ((c >= 65 && c <= 90) || c > 127 || c === 58 /* : */) return false;
  }
  return n === 0 || host.charCodeAt(n - 1) !== 46 /* . */;
}

/**
 * Remembers normalised forms of hosts that carry a port or capitals (`api.example.com:8443`
 * on every request of a non-default port), so the hot path does not slice and lower-case
 * the same string again and again. Bounded in entries and key length: random hosts from a
 * client only make it start over.
 */
class HostCache {
  private readonly map = new Map<string, string>();
  get(host: string): string {
    const hit = this.map.get(host);
    if (hit !== undefined) return hit;
    const norm = normalizeHost(host);
    if (host.length <= 300) {
      if (this.map.size >= 512) this.map.clear();
      this.map.set(host, norm);
    }
    return norm;
  }
}

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

function configError(route: RouteConfig, message: string, cause?: unknown): BriskError {
  return new BriskError('BRISK_CONFIG_INVALID', `route "${route.name}": ${message}`, cause === undefined ? undefined : { cause });
}

function compileRegex(route: RouteConfig, key: string, source: string): RegExp {
  try {
    return new RegExp(source);
  } catch (err) {
    throw configError(route, `${key} "${source}" is not a valid regular expression: ${(err as Error).message}`, err);
  }
}

function compileMatchers(route: RouteConfig, key: string, record: Readonly<Record<string, StringMatcher>>): [string, ValueMatcher][] {
  return Object.entries(record).map(([name, m]) => {
    if (m.regex !== undefined) compileRegex(route, `match.${key}.${name}.regex`, m.regex);
    return [name, new ValueMatcher(m)];
  });
}

function compileEntry(route: RouteConfig): Entry {
  const match = route.match;
  let pattern: PathPattern | null = null;
  let regex: RegExp | null = null;
  if (match.path !== undefined) {
    try {
      pattern = PathPattern.parse(match.path);
    } catch (err) {
      throw configError(route, `match.path: ${(err as Error).message}`, err);
    }
  }
  if (match.pathRegex !== undefined) regex = compileRegex(route, 'match.pathRegex', match.pathRegex);

  // The most specific path condition decides where the route sits; any other is checked after.
  let kind: number;
  const extras: ((path: string) => boolean)[] = [];
  if (match.path !== undefined) {
    kind = pattern === null ? EXACT : PATTERN;
    if (regex !== null) {
      const re = regex;
      extras.push((p) => safeTest(re, p));
      regex = null;
    }
    if (match.pathPrefix !== undefined) {
      const pre = match.pathPrefix;
      extras.push((p) => hasPathPrefix(p, pre));
    }
  } else if (regex !== null) {
    kind = REGEX;
    if (match.pathPrefix !== undefined) {
      const pre = match.pathPrefix;
      extras.push((p) => hasPathPrefix(p, pre));
    }
  } else if (match.pathPrefix !== undefined) {
    kind = PREFIX;
  } else {
    kind = ANY_PATH;
  }

  let methods: Set<string> | null = null;
  if (match.methods.length !== 0) {
    methods = new Set(match.methods);
    // HEAD is GET without a body (RFC 9110 §9.3.2): a route taking GET takes HEAD too, as
    // NGINX, Envoy and Express do. Listing HEAD alone does not admit GET.
    if (methods.has('GET')) methods.add('HEAD');
  }
  const headers = compileMatchers(route, 'headers', match.headers).map(([n, m]) => new HeaderCondition(n.toLowerCase(), m));
  const query = compileMatchers(route, 'query', match.query).map(([n, m]) => new QueryCondition(n, m));

  // Parameters the route can capture, and a reader of their raw text for path rewrites.
  let known: Set<string>;
  let readRaw: RawParamReader | null = null;
  let regexHasGroups = false;
  if (kind === PATTERN) {
    const p = pattern!;
    known = new Set(p.paramNames);
    readRaw = (path) => (p.test(path) ? p.rawParams(path) : null);
  } else if (kind === REGEX) {
    const re = regex!;
    known = new Set(regexGroupNames(re));
    regexHasGroups = known.size !== 0;
    readRaw = (path) => {
      const m = safeExec(re, path);
      return m === null ? null : groupsToParams(m, false);
    };
  } else {
    known = new Set();
  }

  let rewritePath: CompiledRoute['rewritePath'];
  let requestHeaderEdits: CompiledRoute['requestHeaderEdits'];
  let responseHeaderEdits: CompiledRoute['responseHeaderEdits'];
  try {
    rewritePath = compileRewrite(route.rewrite, known, readRaw);
    requestHeaderEdits = compileHeaderEdits(route.requestHeaders, known, 'requestHeaders');
    responseHeaderEdits = compileHeaderEdits(route.responseHeaders, known, 'responseHeaders');
  } catch (err) {
    throw configError(route, (err as Error).message, err);
  }

  const regexPrefix = kind === REGEX ? regexLiteralPrefix(match.pathRegex!) : '';
  const compiled: CompiledRoute = Object.freeze({
    name: route.name,
    index: route.index,
    upstreamName: route.upstream,
    template: routeTemplate(match),
    config: route,
    rewritePath,
    requestHeaderEdits,
    responseHeaderEdits,
  });
  return {
    route: compiled,
    index: route.index,
    kind,
    exactPath: kind === EXACT ? match.path! : '',
    pattern,
    regex: kind === REGEX ? regex : null,
    regexHasGroups,
    regexPrefix,
    prefix: kind === PREFIX ? match.pathPrefix! : '',
    methods,
    headers: headers.length === 0 ? null : headers,
    query: query.length === 0 ? null : query,
    extraPath: extras.length === 0 ? null : extras.length === 1 ? extras[0]! : (p) => extras.every((f) => f(p)),
    conditionCount: (methods === null ? 0 : 1) + headers.length + query.length + extras.length,
    segmentKey: requiredSegmentKey(kind, pattern, regexPrefix, kind === PREFIX ? match.pathPrefix! : ''),
    result: Object.freeze({ route: compiled, params: null }),
  };
}

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

/** The route's path as a template for traces (`http.route`): the exact path, the prefix with `/*`, or the regex. */
function routeTemplate(match: RouteConfig['match']): string | undefined {
  if (match.path !== undefined) return match.path;
  if (match.pathPrefix !== undefined) return match.pathPrefix.endsWith('/') ? `${match.pathPrefix}*` : `${match.pathPrefix}/*`;
  return match.pathRegex;
}

/**
 * A route as the matcher sees it (an `Entry`): its primary path condition, which decides
 * its tier and place, and its other conditions, compiled once from its config. Also the
 * regular-expression helpers the matcher shares with compilation.
 */
import type { RouteConfig, StringMatcher } from '../config/types.js';
import { BriskError } from '../core/errors.js';
import { HeaderCondition, QueryCondition, ValueMatcher, safeTest } from './conditions.js';
import { checkRedirect } from './redirect.js';
import { compileHeaderEdits } from './header-editor.js';
import { PathPattern, decodeParam, hasPathPrefix } from './path-pattern.js';
import { compileRewrite, type RawParamReader } from './rewrite.js';
import type { CompiledRoute, RouteMatchResult, RouteParams } from './types.js';

export const SLASH = 47;

/** Path kinds in precedence order; the number is the tier. */
export const EXACT = 0;
export const PATTERN = 1;
export const REGEX = 2;
export const PREFIX = 3;
export const ANY_PATH = 4;

/** A route as the matcher sees it: its primary path condition and its other conditions. */
export interface Entry {
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
export interface Ranked extends Entry {
  readonly rank: number;
}

/**
 * A hash of s[start, end) for the first-segment index. Collisions only cost a wasted
 * check: every candidate is still matched in full. Kept in Smi range so Map keys stay cheap.
 */
export function segmentHash(s: string, start: number, end: number): number {
  let h = 0;
  for (let i = start; i < end; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
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

export function configError(route: RouteConfig, message: string, cause?: unknown): BriskError {
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

export function compileEntry(route: RouteConfig): Entry {
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
    if (route.redirect !== undefined) checkRedirect(route.redirect, known);
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

export function safeExec(re: RegExp, path: string): RegExpExecArray | null {
  try {
    return re.exec(path);
  } catch {
    return null;
  }
}

/** Named groups as params; unmatched optional groups are left out. */
export function groupsToParams(m: RegExpExecArray, decode: boolean): RouteParams {
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

/** The route's path as a template for traces (`http.route`): the exact path, the prefix with `/*`, or the regex. */
function routeTemplate(match: RouteConfig['match']): string | undefined {
  if (match.path !== undefined) return match.path;
  if (match.pathPrefix !== undefined) return match.pathPrefix.endsWith('/') ? `${match.pathPrefix}*` : `${match.pathPrefix}/*`;
  return match.pathRegex;
}

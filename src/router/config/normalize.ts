/**
 * Checks and normalisation of the routes (`routes[]`): unique names, the upstream or
 * aggregate a route sends to, match conditions, header edits, rewrites, the route's
 * overrides of its upstream's policies, and each middleware key through its descriptor
 * in the middleware registry. Problems go to the `ConfigCheck` of the file.
 */
import { isHeaderName } from '../../config/addresses.js';
import { didYouMean } from '../../config/did-you-mean.js';
import { dedupe, putOwn, type ConfigCheck } from '../../config/normalize-kit.js';
import type { PathSegment } from '../../config/positions.js';
import { normalizeAggregate } from '../../aggregate/schema.js';
import type { MiddlewareRegistry } from '../../middlewares/descriptor.js';
import { MIDDLEWARES } from '../../middlewares/registry.js';
import { normalizePriority } from '../../middlewares/shedding/schema.js';
import { UPSTREAM_DEFAULTS } from '../../upstreams/config/defaults.js';
import { normalizeHedge, normalizeRetry, normalizeTimeouts } from '../../upstreams/config/normalize.js';
import type { UpstreamConfig } from '../../upstreams/config/types.js';
import { mergeHeaderEdits, normalizeHeaderEdits } from './header-edits.js';
import { isOptOut, type RawFallback, type RawHeaderEdits, type RawMatch, type RawRewrite, type RawRoute, type RawStringMatch } from './schema.js';
import type { DefaultsConfig, FallbackConfig, HeaderEdits, RouteConfig, RouteMatch, RouteRewrite, StringMatcher } from './types.js';
import { normalizeRedirect } from './redirect.js';
import { normalizeUpgrades } from './upgrades.js';

/** A route needs `upstream` or, for an aggregate route, `aggregate`, or for a redirect, `redirect`. */
export const MISSING_UPSTREAM = 'missing required key "upstream" (or "aggregate", for a route that combines several requests, or "redirect")';

/** What a route answers with: one of these keys. */
const ROUTE_KINDS = ['upstream', 'aggregate', 'redirect'] as const;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * Normalises the routes of a file. `upstreams` are the normalised upstreams (a route's
 * timeouts and retry override its upstream's key by key); `defaultMaxBody` is
 * `limits.maxBodySize`. Each middleware key is normalised by its descriptor in
 * `registry`, its problems placed under `routes.N.<key>`. `defaults` (normalised by
 * `normalizeDefaults`) fill the keys a route leaves out and does not turn `off`.
 */
export function normalizeRoutes(
  check: ConfigCheck,
  list: readonly RawRoute[],
  upstreams: Readonly<Record<string, UpstreamConfig>>,
  defaultMaxBody: number,
  registry: MiddlewareRegistry = MIDDLEWARES,
  defaults: DefaultsConfig = {},
): RouteConfig[] {
  const names = new Map<string, number>();
  return list.map((route, index): RouteConfig => {
    const at: PathSegment[] = ['routes', index];
    const earlier = names.get(route.name);
    if (earlier !== undefined) check.problem([...at, 'name'], `route name ${JSON.stringify(route.name)} is already used by routes.${earlier}`);
    else names.set(route.name, index);
    const upstream = route.upstream !== undefined && Object.hasOwn(upstreams, route.upstream) ? upstreams[route.upstream] : undefined;
    const kinds = ROUTE_KINDS.filter((k) => route[k] !== undefined);
    if (kinds.length > 1) {
      check.problem([...at, kinds[1]!], `a route has one of upstream, aggregate or redirect, not ${kinds.join(' and ')}`, 'key');
    } else if (kinds.length === 0) {
      check.problem([...at, 'upstream'], MISSING_UPSTREAM);
    } else if (route.upstream !== undefined && upstream === undefined) {
      check.problem([...at, 'upstream'], `unknown upstream ${JSON.stringify(route.upstream)}${didYouMean(route.upstream, Object.keys(upstreams))}`);
    }
    const result: Mutable<RouteConfig> = {
      name: route.name,
      index,
      match: match(check, [...at, 'match'], route.match),
      upstream: route.upstream ?? '',
      maxBodySize: check.size([...at, 'maxBodySize'], route.maxBodySize, defaultMaxBody),
    };
    if (route.upgrades !== undefined) {
      const upgrades = check.adopt([...at, 'upgrades'], normalizeUpgrades(route.upgrades));
      if (upgrades !== undefined) result.upgrades = upgrades;
    }
    if (route.priority !== undefined) result.priority = normalizePriority(route.priority);
    if (route.idempotent === true) result.idempotent = true;
    if (route.grpcWeb === true) result.grpcWeb = true;
    if (route.rewrite !== undefined) result.rewrite = rewrite(route.rewrite);
    for (const kind of ['requestHeaders', 'responseHeaders'] as const) {
      const edits = routeHeaderEdits(check, [...at, kind], route[kind], defaults[kind]);
      if (edits !== undefined) result[kind] = edits;
    }
    // Route timeouts override the upstream's key by key; a route without any keeps the upstream's.
    if (route.timeouts !== undefined) result.timeouts = normalizeTimeouts(check, [...at, 'timeouts'], route.timeouts, upstream?.timeouts ?? UPSTREAM_DEFAULTS.timeouts);
    // A route's retry keys override the upstream's one by one.
    if (route.retry !== undefined) result.retry = normalizeRetry(check, [...at, 'retry'], route.retry, upstream?.retry ?? UPSTREAM_DEFAULTS.retry);
    if (route.hedge !== undefined) result.hedge = normalizeHedge(check, [...at, 'hedge'], route.hedge);
    if (route.fallback !== undefined) result.fallback = fallback(check, [...at, 'fallback'], route.fallback, upstreams, upstream);
    if (route.aggregate !== undefined) {
      const aggregate = check.adopt([...at, 'aggregate'], normalizeAggregate(route.aggregate, Object.keys(upstreams)));
      if (aggregate !== undefined) result.aggregate = aggregate;
      for (const key of ['rewrite', 'retry', 'hedge', 'fallback'] as const) {
        if (route[key] !== undefined) check.warn([...at, key], `${key} does not apply to an aggregate route (each part uses its upstream's settings and its own timeout)`, 'key');
      }
      for (const key of ['connect', 'response', 'idle'] as const) {
        if (route.timeouts?.[key] !== undefined) check.warn([...at, 'timeouts', key], `only timeouts.total (the whole answer) applies to an aggregate route; each part has its own timeout`, 'key');
      }
    }
    if (route.redirect !== undefined) {
      const redirect = check.adopt([...at, 'redirect'], normalizeRedirect(route.redirect));
      if (redirect !== undefined) result.redirect = redirect;
      for (const key of ['rewrite', 'retry', 'hedge', 'fallback', 'timeouts', 'requestHeaders', 'responseHeaders'] as const) {
        if (route[key] !== undefined && !isOptOut(route[key])) check.warn([...at, key], `${key} does not apply to a redirect route (nothing is sent upstream)`, 'key');
      }
    }
    const raw = route as Readonly<Record<string, unknown>>;
    const middlewares = result as Record<string, unknown>;
    const inherited = defaults as Readonly<Record<string, unknown>>;
    const fromDefaults: string[] = [];
    for (const d of registry) {
      const value = raw[d.key];
      if (value === undefined) {
        // The default's own (frozen) object: routes share it, so a gateway-wide middleware is built once.
        if (inherited[d.key] === undefined) continue;
        middlewares[d.key] = inherited[d.key];
        fromDefaults.push(d.key);
      } else if (isOptOut(value)) {
        if (inherited[d.key] === undefined) check.warn([...at, d.key], `\`${d.key}: off\` has no effect: \`defaults\` has no ${d.key}`, 'key');
      } else {
        // The schema validated `value` against `d.schema`, which is what `normalize` takes.
        const config = check.adopt([...at, d.key], d.normalize(value as never, check.context));
        if (config !== undefined) middlewares[d.key] = config;
      }
    }
    if (fromDefaults.length > 0) result.fromDefaults = fromDefaults;
    return result;
  });
}

function match(check: ConfigCheck, at: readonly PathSegment[], raw: RawMatch | undefined): RouteMatch {
  if (raw === undefined) return { hosts: [], methods: [], headers: {}, query: {} };
  const hostList = raw.host === undefined ? [] : Array.isArray(raw.host) ? raw.host : [raw.host];
  const hosts = dedupe(hostList.map((h, i) => check.hostPattern(Array.isArray(raw.host) ? [...at, 'host', i] : [...at, 'host'], h)));
  const pathKeys = (['path', 'pathPrefix', 'pathRegex'] as const).filter((k) => raw[k] !== undefined);
  if (pathKeys.length > 1) {
    check.problem([...at, pathKeys[1] as string], `a route matches on one path condition only, but has ${pathKeys.join(' and ')}; keep one`, 'key');
  }
  if (raw.pathRegex !== undefined) regex(check, [...at, 'pathRegex'], raw.pathRegex);
  const result: Mutable<RouteMatch> = {
    hosts,
    methods: dedupe((raw.methods ?? []).map((m) => m.toUpperCase())),
    headers: matchers(check, [...at, 'headers'], raw.headers, true),
    query: matchers(check, [...at, 'query'], raw.query, false),
  };
  if (raw.path !== undefined) result.path = raw.path;
  if (raw.pathPrefix !== undefined) result.pathPrefix = raw.pathPrefix;
  if (raw.pathRegex !== undefined) result.pathRegex = raw.pathRegex;
  if (raw.grpc !== undefined) grpcMatch(check, at, raw, result);
  return result;
}

/**
 * `match.grpc`: `pkg.Service/Method` is the exact path `/pkg.Service/Method`, `pkg.Service`
 * the prefix `/pkg.Service` (segment-wise: its methods), both for POSTs with a gRPC
 * content type (`application/grpc`, `application/grpc+proto`, …, gRPC-Web's included).
 */
function grpcMatch(check: ConfigCheck, at: readonly PathSegment[], raw: RawMatch, result: Mutable<RouteMatch>): void {
  const grpc = raw.grpc!;
  for (const key of ['path', 'pathPrefix', 'pathRegex'] as const) {
    if (raw[key] !== undefined) check.problem([...at, key], `match.grpc names the path (/${grpc.includes('/') ? grpc : `${grpc}/…`}); drop ${key}`, 'key');
  }
  if (raw.methods !== undefined && !result.methods.every((m) => m === 'POST')) check.problem([...at, 'methods'], 'gRPC calls are POSTs; drop methods', 'key');
  if (Object.hasOwn(result.headers, 'content-type')) check.problem([...at, 'headers', 'content-type'], 'match.grpc already requires a gRPC content type; drop this header match', 'key');
  result.grpc = grpc;
  if (grpc.includes('/')) result.path = `/${grpc}`;
  else result.pathPrefix = `/${grpc}`;
  result.methods = ['POST'];
  // gRPC-Web's types too: a route with `grpcWeb: true` translates them, one without passes them on.
  result.headers = { ...result.headers, 'content-type': { regex: '^application/grpc(-web(-text)?)?(\\+[A-Za-z0-9._-]+)?(;.*)?$' } };
}

function regex(check: ConfigCheck, path: readonly PathSegment[], source: string): void {
  try {
    new RegExp(source);
  } catch (error) {
    check.problem(path, (error as Error).message);
  }
}

function matchers(check: ConfigCheck, at: readonly PathSegment[], raw: Readonly<Record<string, RawStringMatch>> | undefined, headers: boolean): Record<string, StringMatcher> {
  const result: Record<string, StringMatcher> = {};
  if (raw === undefined) return result;
  const seen = new Map<string, string>();
  for (const [name, value] of Object.entries(raw)) {
    const path = [...at, name];
    const key = headers ? name.toLowerCase() : name;
    if (headers && !isHeaderName(name)) check.problem(path, `invalid header name ${JSON.stringify(name)}`, 'key');
    if (!headers && name === '') check.problem(path, 'a query parameter name must not be empty', 'key');
    const earlier = seen.get(key);
    if (earlier !== undefined) check.problem(path, `header ${JSON.stringify(name)} is already matched as ${JSON.stringify(earlier)} (names are case-insensitive)`, 'key');
    seen.set(key, name);
    putOwn(result, key, matcher(check, path, value));
  }
  return result;
}

function matcher(check: ConfigCheck, path: readonly PathSegment[], raw: RawStringMatch): StringMatcher {
  if (typeof raw === 'string') return { exact: raw };
  const kinds = (['exact', 'prefix', 'regex', 'present'] as const).filter((k) => raw[k] !== undefined);
  if (kinds.length !== 1) {
    check.problem(path, kinds.length === 0 ? 'a matcher needs one of exact, prefix, regex or present' : `a matcher takes one of exact, prefix, regex or present, not ${kinds.join(' and ')}`);
  }
  if (raw.regex !== undefined) regex(check, [...path, 'regex'], raw.regex);
  const result: Mutable<StringMatcher> = {};
  for (const k of kinds) (result as Record<string, unknown>)[k] = raw[k];
  return result;
}

/** A route's header edits with the defaults' under them; `off` keeps neither. */
function routeHeaderEdits(check: ConfigCheck, at: readonly PathSegment[], raw: RawHeaderEdits | 'off' | false | undefined, defaults: HeaderEdits | undefined): HeaderEdits | undefined {
  if (isOptOut(raw)) {
    if (defaults === undefined) check.warn(at, `\`${String(at.at(-1))}: off\` has no effect: \`defaults\` has no ${String(at.at(-1))}`, 'key');
    return undefined;
  }
  const own = raw === undefined ? undefined : normalizeHeaderEdits(check, at, raw);
  if (defaults === undefined) return own;
  return own === undefined ? defaults : mergeHeaderEdits(defaults, own);
}

function fallback(check: ConfigCheck, at: readonly PathSegment[], raw: RawFallback, upstreams: Readonly<Record<string, UpstreamConfig>>, own: UpstreamConfig | undefined): FallbackConfig {
  if (own !== undefined && own.circuitBreaker === null) {
    check.warn(at, `upstream ${JSON.stringify(own.name)} has no circuitBreaker, so this fallback is never used`, 'key');
  }
  if (raw.upstream !== undefined) {
    if (raw.body !== undefined) check.problem([...at, 'body'], 'a fallback is either another upstream or a static answer, not both', 'key');
    if (!Object.hasOwn(upstreams, raw.upstream)) check.problem([...at, 'upstream'], `unknown upstream ${JSON.stringify(raw.upstream)}${didYouMean(raw.upstream, Object.keys(upstreams))}`);
    return { kind: 'upstream', upstream: raw.upstream };
  }
  return { kind: 'static', status: raw.status ?? 200, body: raw.body ?? '', contentType: raw.contentType ?? 'application/json' };
}

function rewrite(raw: RawRewrite): RouteRewrite {
  const result: Mutable<RouteRewrite> = {};
  if (raw.stripPrefix !== undefined) result.stripPrefix = raw.stripPrefix;
  if (raw.path !== undefined) result.path = raw.path;
  if (raw.addPrefix !== undefined) result.addPrefix = raw.addPrefix;
  return result;
}

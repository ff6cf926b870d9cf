/**
 * The `aggregate` block of a route: its schema (one source for the JSON Schema, the docs
 * and the raw type) and its normaliser, which checks what the schema cannot — templates,
 * references to parts and upstreams, cycles, where results go — and reports problems with
 * paths relative to the block (`['parts', 'user', 'path']`); the config normaliser
 * prefixes them with `routes.N.aggregate`.
 */
import { Type, type Static } from '../config/type-builder.js';
import type { Normalized } from '../config/normalize-kit.js';
import { didYouMean } from '../config/did-you-mean.js';
import type { PathProblem, PathSegment } from '../config/positions.js';
import { MAX_DURATION_MS, durationMs, sizeBytes } from '../config/units.js';
import { findCycle, topologicalOrder } from './scheduler.js';
import { parseReference, parseTemplate, REQUEST_SOURCES, TemplateSyntaxError, type Ref } from './template.js';
import { Duration, Size, Strict } from '../config/schema-kit.js';

export const AGGREGATE_DEFAULTS = { timeoutMs: 5000, maxBodySize: 1024 * 1024, maxFanOut: 100 } as const;

const Part = Strict(
  {
    upstream: Type.String({ minLength: 1, description: 'Name of the upstream the part is requested from (with its balancer, retries, breaker, limits and health).' }),
    path: Type.String({
      pattern: '^/',
      description:
        'Path and query of the request, a template: `/api/users/${order.userId}`, `/api/products?ids=${order.productIds}`. Placeholders: `${params.NAME}`, `${query.NAME}`, `${headers.NAME}` (the client request), `${PART.field…}` (the JSON of an earlier part; the part then waits for it), `${item…}` (the element of `forEach`). Values are percent-encoded; a list becomes its elements joined with commas.',
    }),
    method: Type.Optional(Type.Union([Type.Literal('GET'), Type.Literal('HEAD'), Type.Literal('POST')], { default: 'GET', description: 'Method of the request (sent without a body).' })),
    headers: Type.Optional(
      Type.Record(Type.String({ minLength: 1 }), Type.String(), { description: 'Extra request headers, values are templates like `path` (not percent-encoded). The client request headers (auth, `traceparent`, …) are passed on as for a proxied request.' }),
    ),
    forEach: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Fan-out: a reference to a list in an earlier part (`order.productIds`); one request per element, in parallel, `${item}` being the element. The part\'s result is the list of answers, in order; any failed element fails the part.',
      }),
    ),
    required: Type.Optional(
      Type.Boolean({ default: true, description: 'A required part that fails fails the whole answer (502, or 504 on timeout); an optional one leaves `null` and an entry in `errors`.' }),
    ),
    timeout: Type.Optional(Duration('Longest wait for the whole part (each request of a fan-out), retries included; defaults to the route\'s `aggregate.timeout`.')),
    maxBodySize: Type.Optional(Size('Largest response body accepted from the part; defaults to `aggregate.maxBodySize`.')),
    merge: Type.Optional(Type.Boolean({ default: false, description: 'Put the fields of the part\'s JSON object at the top level of the answer instead of under the part\'s name.' })),
    into: Type.Optional(
      Type.String({ pattern: '^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_$-]+)+$', description: 'Nest the result inside another part\'s result: `order.user` sets field `user` of part `order`\'s JSON object.' }),
    ),
    hidden: Type.Optional(Type.Boolean({ default: false, description: 'Leave the part out of the answer (it only feeds other parts\' templates).' })),
    cache: Type.Optional(Type.Boolean({ default: true, description: 'With the route\'s `aggregate.cache`, whether this part\'s GET requests are cached; `false` always asks the upstream.' })),
  },
  'One backend request of an aggregate route.',
);

export const AggregateSchema = Strict(
  {
    parts: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_-]+$' }), Part, {
      description: 'The parts, by name. Parts run in parallel, except that a part whose templates name another part waits for it.',
    }),
    timeout: Type.Optional(Duration('Default `timeout` of each part.', '5s')),
    maxBodySize: Type.Optional(Size('Default `maxBodySize` of each part.', '1mb')),
    maxFanOut: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, default: AGGREGATE_DEFAULTS.maxFanOut, description: 'Most requests one `forEach` part may make; a longer list fails the part.' })),
    cache: Type.Optional(
      Strict(
        {
          maxBytes: Type.Optional(Size('Most bytes of part responses kept in memory (least recently used go first).', '16mb')),
          defaultTtl: Type.Optional(Duration('Freshness of part responses that carry no freshness information; `0`: those are not cached.', '0')),
        },
        'Cache the parts\' GET responses in memory, shared by every request of the route, by their RFC 9111 freshness (`Cache-Control: max-age`/`s-maxage`, `Expires`, `CDN-Cache-Control`); concurrent requests for one part URL make one backend request. Off when absent.',
      ),
    ),
  },
  'Instead of `upstream`: answer with the JSON of several backend requests, made in parallel where they can be, merged into one object. See docs/aggregation.md.',
);

export type RawAggregate = Static<typeof AggregateSchema>;

/** One part, normalised. */
export interface AggregatePartConfig {
  readonly name: string;
  readonly upstream: string;
  readonly method: 'GET' | 'HEAD' | 'POST';
  readonly path: string;
  /** Names lower-cased; values are templates. */
  readonly headers: Readonly<Record<string, string>>;
  readonly forEach?: string;
  readonly required: boolean;
  readonly timeoutMs: number;
  readonly maxBodySize: number;
  readonly merge: boolean;
  readonly into?: string;
  readonly hidden: boolean;
  /** The parts this one waits for (from its templates), derived. */
  readonly dependsOn: readonly string[];
  /** Whether the route's part cache (if any) is used for this part. */
  readonly cache: boolean;
}

/** The normalised `aggregate` of a route. */
export interface AggregateConfig {
  /** Parts in an order where each comes after those it depends on (file order otherwise). */
  readonly parts: readonly AggregatePartConfig[];
  /** Part names in file order: the order of keys in the answer. */
  readonly order: readonly string[];
  readonly maxFanOut: number;
  /** The parts' response cache; null when off. */
  readonly cache: { readonly maxBytes: number; readonly defaultTtlS: number } | null;
}


/** Names a part may not have: they are keys of the answer or template sources. */
const RESERVED = new Set<string>(['errors', ...REQUEST_SOURCES]);

/**
 * Checks and normalises a schema-valid `aggregate` block. `upstreams` are the names the
 * configuration defines.
 */
export function normalizeAggregate(raw: RawAggregate, upstreams: readonly string[]): Normalized<AggregateConfig> {
  const problems: PathProblem[] = [];
  const warnings: PathProblem[] = [];
  const problem = (path: readonly PathSegment[], message: string, at: 'key' | 'value' = 'value') => problems.push({ path, message, at });
  const duration = (path: readonly PathSegment[], v: string | number | undefined, fallback: number): number => {
    if (v === undefined) return fallback;
    const ms = durationMs(v);
    if (ms === undefined || ms > MAX_DURATION_MS) {
      problem(path, `duration ${JSON.stringify(v)} is too long; the longest is 24 days ("576h")`);
      return fallback;
    }
    return ms;
  };
  const size = (path: readonly PathSegment[], v: string | number | undefined, fallback: number): number => {
    if (v === undefined) return fallback;
    const b = sizeBytes(v);
    if (b === undefined || b > Number.MAX_SAFE_INTEGER) {
      problem(path, `size ${JSON.stringify(v)} is too large`);
      return fallback;
    }
    return b;
  };

  const defaultTimeout = duration(['timeout'], raw.timeout, AGGREGATE_DEFAULTS.timeoutMs);
  const defaultMaxBody = size(['maxBodySize'], raw.maxBodySize, AGGREGATE_DEFAULTS.maxBodySize);
  const names = Object.keys(raw.parts);
  if (names.length === 0) problem(['parts'], 'an aggregate needs at least one part');
  const deps = new Map<string, string[]>();
  const parts = new Map<string, AggregatePartConfig>();

  for (const name of names) {
    const p = raw.parts[name]!;
    const at: PathSegment[] = ['parts', name];
    if (RESERVED.has(name)) problem(at, `part name ${JSON.stringify(name)} is reserved (errors, params, query, headers, item); choose another`, 'key');
    if (!upstreams.includes(p.upstream)) problem([...at, 'upstream'], `unknown upstream ${JSON.stringify(p.upstream)}${didYouMean(p.upstream, upstreams)}`);
    const needs = new Set<string>();
    const checkRef = (ref: Ref, path: readonly PathSegment[]): void => {
      if (ref.source === 'params' || ref.source === 'query' || ref.source === 'headers') return;
      if (ref.source === 'item') {
        if (p.forEach === undefined) problem(path, `${ref.text} is only available in a part with forEach`);
        return;
      }
      if (!Object.hasOwn(raw.parts, ref.source)) {
        problem(path, `${ref.text} names unknown part ${JSON.stringify(ref.source)} (a placeholder starts with a part name or params, query, headers, item)${didYouMean(ref.source, names)}`);
        return;
      }
      if (ref.source === name) {
        problem(path, `${ref.text}: a part cannot use its own result`);
        return;
      }
      needs.add(ref.source);
    };
    const template = (text: string, path: readonly PathSegment[], kind: 'path' | 'value'): void => {
      try {
        for (const ref of parseTemplate(text, kind).refs) checkRef(ref, path);
      } catch (error) {
        if (error instanceof TemplateSyntaxError) problem(path, `bad template: ${error.message}`);
        else throw error;
      }
    };
    template(p.path, [...at, 'path'], 'path');
    const headers: Record<string, string> = {};
    for (const [h, v] of Object.entries(p.headers ?? {})) {
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(h)) problem([...at, 'headers', h], `invalid header name ${JSON.stringify(h)}`, 'key');
      if (/[\r\n\0]/.test(v)) problem([...at, 'headers', h], 'a header value may not contain line breaks or NUL characters');
      template(v, [...at, 'headers', h], 'value');
      Object.defineProperty(headers, h.toLowerCase(), { value: v, enumerable: true, writable: true, configurable: true });
    }
    if (p.forEach !== undefined) {
      try {
        const ref = parseReference(p.forEach);
        if (ref.source === 'item') problem([...at, 'forEach'], 'forEach cannot use ${item}; name a list in an earlier part, such as order.productIds');
        else checkRef(ref, [...at, 'forEach']);
      } catch (error) {
        if (error instanceof TemplateSyntaxError) problem([...at, 'forEach'], `bad reference: ${error.message}`);
        else throw error;
      }
    }
    if (p.merge === true && p.into !== undefined) problem([...at, 'into'], 'a part is either merged into the top level or nested with into, not both', 'key');
    if (p.into !== undefined) {
      const holder = p.into.split('.')[0]!;
      if (holder === name) problem([...at, 'into'], 'a part cannot be nested into itself');
      else if (!Object.hasOwn(raw.parts, holder)) problem([...at, 'into'], `into names unknown part ${JSON.stringify(holder)}${didYouMean(holder, names)}`);
      else if (raw.parts[holder]!.hidden === true) warnings.push({ path: [...at, 'into'], message: `part ${JSON.stringify(holder)} is hidden, so ${JSON.stringify(name)} nested into it is not shown either`, at: 'value' });
    }
    deps.set(name, [...needs]);
    const part: { -readonly [K in keyof AggregatePartConfig]: AggregatePartConfig[K] } = {
      name,
      upstream: p.upstream,
      method: p.method ?? 'GET',
      path: p.path,
      headers,
      required: p.required ?? true,
      timeoutMs: duration([...at, 'timeout'], p.timeout, defaultTimeout),
      maxBodySize: size([...at, 'maxBodySize'], p.maxBodySize, defaultMaxBody),
      merge: p.merge ?? false,
      hidden: p.hidden ?? false,
      dependsOn: [...needs],
      cache: p.cache ?? true,
    };
    if (part.timeoutMs === 0) problem([...at, 'timeout'], 'a part needs a timeout above 0');
    if (p.forEach !== undefined) part.forEach = p.forEach;
    if (p.into !== undefined) part.into = p.into;
    parts.set(name, part);
  }

  const cycle = findCycle(names, deps);
  if (cycle !== null) problem(['parts', cycle[0]!], `parts depend on each other in a cycle: ${cycle.join(' → ')}; a part can only use parts that do not need it`, 'key');
  // Nesting in a circle (a into b, b into a) would make the answer an endless object.
  const intoOf = new Map<string, string[]>(names.map((n) => [n, raw.parts[n]!.into === undefined ? [] : [raw.parts[n]!.into!.split('.')[0]!]]));
  const intoCycle = findCycle(names, intoOf);
  if (intoCycle !== null) problem(['parts', intoCycle[0]!, 'into'], `parts are nested into each other in a circle: ${intoCycle.join(' → ')}`);

  if (problems.length > 0) return { problems, warnings };
  const ordered = topologicalOrder(names, deps).map((n) => parts.get(n)!);
  const cache =
    raw.cache === undefined
      ? null
      : { maxBytes: size(['cache', 'maxBytes'], raw.cache.maxBytes, 16 * 1024 * 1024), defaultTtlS: Math.floor(duration(['cache', 'defaultTtl'], raw.cache.defaultTtl, 0) / 1000) };
  if (problems.length > 0) return { problems, warnings };
  return { config: { parts: ordered, order: names, maxFanOut: raw.maxFanOut ?? AGGREGATE_DEFAULTS.maxFanOut, cache }, problems, warnings };
}

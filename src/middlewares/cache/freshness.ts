/**
 * RFC 9111 arithmetic: Cache-Control parsing, freshness lifetime (§4.2.1, §4.2.2), age
 * (§4.2.3) and whether a stored response may be stored at all (§3). Pure functions over
 * flat header lists, unit-tested next to this file.
 *
 * Written by hand rather than with http-cache-semantics because that library deviates
 * from RFC 9111 where the conformance suite looks: it has no CDN-Cache-Control (RFC 9213)
 * targeting, no `must-understand`, treats a duplicated or invalid `max-age` as valid,
 * applies stale-if-error/stale-while-revalidate despite `must-revalidate`, and keeps its
 * state in objects built per request (allocations on the hit path).
 */

import { parseHttpDate } from './http-date.js';
import { parseDictionary } from './structured-field.js';

export { parseHttpDate } from './http-date.js';

/** Parsed directives: name (lower case) → value (`true` when the directive has none). */
export type Directives = Map<string, string | true>;

/** Marker for a directive repeated with conflicting values (RFC 9111 §4.2.1: treat as stale). */
export const CONFLICT = '\u0000conflict';

/**
 * Parses a Cache-Control-style field value (several field lines joined with `,`).
 * Quoted values are unquoted; a directive repeated with a different value is recorded
 * as {@link CONFLICT}.
 *
 * @example
 * parseDirectives('max-age=60, no-cache="set-cookie"') // Map { 'max-age' → '60', 'no-cache' → 'set-cookie' }
 */
export function parseDirectives(value: string): Directives {
  const out: Directives = new Map();
  let i = 0;
  const n = value.length;
  while (i < n) {
    while (i < n && (value[i] === ' ' || value[i] === '\t' || value[i] === ',')) i++;
    if (i >= n) break;
    let j = i;
    while (j < n && value[j] !== '=' && value[j] !== ',') j++;
    const name = value.slice(i, j).trim().toLowerCase();
    let v: string | true = true;
    if (j < n && value[j] === '=') {
      j++;
      while (j < n && (value[j] === ' ' || value[j] === '\t')) j++;
      if (value[j] === '"') {
        let k = j + 1;
        let s = '';
        while (k < n && value[k] !== '"') {
          if (value[k] === '\\' && k + 1 < n) k++;
          s += value[k];
          k++;
        }
        v = s;
        j = k + 1;
        while (j < n && value[j] !== ',') j++;
      } else {
        let k = j;
        while (k < n && value[k] !== ',') k++;
        v = value.slice(j, k).trim();
        j = k;
      }
    }
    if (name !== '') {
      const prev = out.get(name);
      if (prev === undefined) out.set(name, v);
      else if (prev !== v) out.set(name, CONFLICT);
    }
    i = j + 1;
  }
  return out;
}

/**
 * A delta-seconds value (RFC 9111 §1.2.2): digits only, capped at 2^31. Undefined when
 * invalid (the caller then treats the response as stale, never as fresh forever).
 */
export function deltaSeconds(v: string | true | undefined): number | undefined {
  if (typeof v !== 'string' || v === CONFLICT || !/^\d+$/.test(v)) return undefined;
  const n = Number(v);
  return n > 2147483648 ? 2147483648 : n;
}

/** First value of a header in a flat list (name compared case-insensitively); undefined when absent. */
export function headerValue(headers: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) return headers[i + 1];
  }
  return undefined;
}

/** All values of a header joined with `, ` (RFC 9110 §5.3); undefined when absent. */
export function joinedValue(headers: readonly string[], lowerName: string): string | undefined {
  let out: string | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) out = out === undefined ? headers[i + 1]! : `${out}, ${headers[i + 1]!}`;
  }
  return out;
}

/** Statuses a cache may give heuristic freshness (RFC 9110 §15.1). */
export const HEURISTIC_STATUSES: ReadonlySet<number> = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]);
/**
 * Final statuses whose semantics Brisk understands well enough to store (RFC 9111 §3:
 * "the response status code is final and understood"). 206 is left out: Brisk does not
 * combine partial content.
 */
export const UNDERSTOOD_STATUSES: ReadonlySet<number> = new Set([200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 451, 501]);

/** The directives that decide for Brisk, and the facts freshness needs. */
export interface ResponsePolicy {
  /** The directives Brisk obeys: the first targeted field present (RFC 9213), else Cache-Control. */
  readonly cc: Directives;
  /** Freshness lifetime in seconds; 0 when stale from the start. */
  readonly lifetime: number;
  /** True when the lifetime came from the response (or was invalid), not from a heuristic or default. */
  readonly explicit: boolean;
  /** Stale serving is forbidden (must-revalidate, proxy-revalidate, s-maxage, no-cache). */
  readonly mustRevalidate: boolean;
  /** Must be revalidated before every reuse (no-cache without field names). */
  readonly noCache: boolean;
  /** Fields that may not be reused without revalidation (`no-cache="a, b"`), lower case. */
  readonly noCacheFields: readonly string[] | null;
  /** stale-while-revalidate / stale-if-error windows in seconds (-1: none given). */
  readonly swr: number;
  readonly sie: number;
}

/** Operator settings that shape the policy. */
export interface PolicyOptions {
  /** Targeted field names in order of precedence, lower case (e.g. `brisk-cache-control`, `cdn-cache-control`). */
  readonly targets: readonly string[];
  /** Freshness (s) when the response says nothing about it; 0: none. */
  readonly defaultTtl: number;
  /** Freshness (s) that replaces whatever the response says; 0: off. */
  readonly overrideTtl: number;
}

/**
 * Reads the response's caching directives. `targets` are the RFC 9213 targeted fields:
 * the first one present with a valid value replaces Cache-Control entirely for Brisk.
 */
export function responseDirectives(headers: readonly string[], targets: readonly string[]): Directives {
  return targetedDirectives(headers, targets) ?? parseDirectives(joinedValue(headers, 'cache-control') ?? '');
}

/** The first targeted field with a valid, non-empty value (RFC 9213 §2.2), or null. */
function targetedDirectives(headers: readonly string[], targets: readonly string[]): Directives | null {
  for (const target of targets) {
    const v = joinedValue(headers, target);
    if (v === undefined) continue;
    // An empty or invalid targeted field is ignored; the next one (or Cache-Control) applies.
    const d = targetedFieldDirectives(v);
    if (d !== null) return d;
  }
  return null;
}

/** Directives whose value is delta-seconds: an Integer in a targeted field. */
const INTEGER_DIRECTIVES: ReadonlySet<string> = new Set(['max-age', 's-maxage', 'stale-while-revalidate', 'stale-if-error']);
/** Directives that never take a value: a Boolean in a targeted field. */
const FLAG_DIRECTIVES: ReadonlySet<string> = new Set(['no-store', 'must-revalidate', 'proxy-revalidate', 'public', 'must-understand', 'no-transform', 'immutable']);
/** Directives that are either bare or carry a list of field names: Boolean or String. */
const FIELD_LIST_DIRECTIVES: ReadonlySet<string> = new Set(['no-cache', 'private']);

/**
 * A targeted field's value as directives, or null when it must be ignored (RFC 9213
 * §2.1): not a valid Structured Field Dictionary, empty, or a directive Brisk obeys
 * given a value of another type than its own (`max-age="60"`, `max-age=1.5`,
 * `no-store=1`). RFC 9213 says such values SHOULD NOT be consumed; taking the whole
 * field for invalid then falls back to Cache-Control, the origin's general policy, rather
 * than to a targeted policy with a hole in it. Parameters are ignored; `?0` means absent.
 */
export function targetedFieldDirectives(value: string): Directives | null {
  const dict = parseDictionary(value);
  if (dict === null || dict.size === 0) return null;
  const out: Directives = new Map();
  for (const [name, v] of dict) {
    if (INTEGER_DIRECTIVES.has(name)) {
      if (typeof v !== 'number' || v < 0) return null;
      out.set(name, String(v));
    } else if (FLAG_DIRECTIVES.has(name)) {
      if (typeof v !== 'boolean') return null;
      if (v) out.set(name, true);
    } else if (FIELD_LIST_DIRECTIVES.has(name)) {
      if (typeof v === 'string') out.set(name, v);
      else if (typeof v !== 'boolean') return null;
      else if (v) out.set(name, true);
    } else if (v === true) out.set(name, true);
    else if (typeof v === 'string' || typeof v === 'number') out.set(name, String(v));
    else if (typeof v === 'object' && 'token' in v) out.set(name, v.token);
    // Other values of extension directives: Brisk obeys no extension that takes one.
  }
  return out;
}

/**
 * Freshness lifetime in seconds (RFC 9111 §4.2.1) for a shared cache: s-maxage, then
 * max-age, then Expires − Date, then (only when allowed) a heuristic: 10% of the time
 * since Last-Modified, or the operator's default.
 */
export function computePolicy(status: number, headers: readonly string[], responseTimeMs: number, options: PolicyOptions): ResponsePolicy {
  const targeted = targetedDirectives(headers, options.targets);
  const cc = targeted ?? parseDirectives(joinedValue(headers, 'cache-control') ?? '');
  let lifetime = 0;
  let explicit = true;
  const sMaxAge = cc.get('s-maxage');
  const maxAge = cc.get('max-age');
  // RFC 9213 §2.2: with a targeted field in force, Cache-Control and Expires are ignored.
  const expires = targeted === null ? expiresValue(headers) : undefined;
  if (options.overrideTtl > 0) lifetime = options.overrideTtl;
  else if (sMaxAge !== undefined) lifetime = deltaSeconds(sMaxAge) ?? 0;
  else if (maxAge !== undefined) lifetime = deltaSeconds(maxAge) ?? 0;
  else if (expires !== undefined) {
    // An invalid Expires (including `0`) means already expired (RFC 9111 §5.3).
    const exp = parseHttpDate(expires);
    if (!Number.isNaN(exp)) {
      const date = parseHttpDate(headerValue(headers, 'date'));
      lifetime = Math.max(0, Math.floor((exp - (Number.isNaN(date) ? responseTimeMs : date)) / 1000));
    }
  } else {
    explicit = false;
    if (HEURISTIC_STATUSES.has(status) || cc.has('public')) {
      const lm = parseHttpDate(headerValue(headers, 'last-modified'));
      if (!Number.isNaN(lm)) {
        const date = parseHttpDate(headerValue(headers, 'date'));
        const base = Number.isNaN(date) ? responseTimeMs : date;
        if (base > lm) lifetime = Math.floor((base - lm) / 10000);
      } else if (options.defaultTtl > 0) lifetime = options.defaultTtl;
    }
  }
  const noCacheValue = cc.get('no-cache');
  const noCacheFields = typeof noCacheValue === 'string' && noCacheValue !== CONFLICT ? fieldList(noCacheValue) : null;
  const noCache = noCacheValue !== undefined && (noCacheFields === null || noCacheFields.length === 0);
  const override = options.overrideTtl > 0;
  return {
    cc,
    lifetime,
    explicit,
    mustRevalidate: !override && (cc.has('must-revalidate') || cc.has('proxy-revalidate') || sMaxAge !== undefined || noCache),
    noCache: !override && noCache,
    noCacheFields: override || noCacheFields === null || noCacheFields.length === 0 ? null : noCacheFields,
    swr: deltaSeconds(cc.get('stale-while-revalidate')) ?? -1,
    sie: deltaSeconds(cc.get('stale-if-error')) ?? -1,
  };
}

/**
 * The Expires value, or '' (invalid) when the response has several Expires lines that
 * differ: RFC 9111 §4.2.1 lets a cache take the first or treat the response as stale,
 * and Brisk treats conflicting freshness information as stale everywhere (a repeated
 * `max-age` with other values is {@link CONFLICT} too). Identical repeats are one value.
 */
function expiresValue(headers: readonly string[]): string | undefined {
  let out: string | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name.length !== 7 || name.toLowerCase() !== 'expires') continue;
    const v = headers[i + 1]!.trim();
    if (out === undefined) out = v;
    else if (out !== v) return '';
  }
  return out;
}

/** `a, B ,c` → ['a', 'b', 'c']. */
export function fieldList(v: string): string[] {
  const out: string[] = [];
  for (const part of v.split(',')) {
    const t = part.trim().toLowerCase();
    if (t !== '') out.push(t);
  }
  return out;
}

/** What the age calculation needs from a stored response (RFC 9111 §4.2.3). */
export interface AgeFacts {
  /** When the request that got this response was sent, and when the response arrived (ms). */
  readonly requestTime: number;
  readonly responseTime: number;
  /** The response's Date (ms), NaN when absent or invalid. */
  readonly dateValue: number;
  /** The response's Age (s), 0 when absent or invalid. */
  readonly ageValue: number;
}

/**
 * current_age in seconds (RFC 9111 §4.2.3): the larger of the apparent age and the
 * upstream's Age corrected by the response delay, plus the time spent here.
 */
export function currentAge(f: AgeFacts, nowMs: number): number {
  const apparentAge = Number.isNaN(f.dateValue) ? 0 : Math.max(0, (f.responseTime - f.dateValue) / 1000);
  const responseDelay = Math.max(0, (f.responseTime - f.requestTime) / 1000);
  const correctedAgeValue = f.ageValue + responseDelay;
  const correctedInitialAge = Math.max(apparentAge, correctedAgeValue);
  const residentTime = Math.max(0, (nowMs - f.responseTime) / 1000);
  return correctedInitialAge + residentTime;
}

/** Parses the Age field: the first member if it is delta-seconds, else 0 (RFC 9111 §5.1: invalid is ignored). */
export function parseAge(v: string | undefined): number {
  if (v === undefined) return 0;
  const first = v.split(',')[0]!.trim();
  return deltaSeconds(first) ?? 0;
}

/** Request directives, with `Pragma: no-cache` honoured when there is no Cache-Control (RFC 9111 §5.4). */
export function requestDirectives(rawHeaders: readonly string[]): Directives | null {
  const cc = joinedValue(rawHeaders, 'cache-control');
  if (cc !== undefined) return parseDirectives(cc);
  const pragma = joinedValue(rawHeaders, 'pragma');
  if (pragma !== undefined && /(^|,)\s*no-cache\s*(,|$)/i.test(pragma)) return new Map([['no-cache', true]]);
  return null;
}

/**
 * Why a response may not be stored (RFC 9111 §3), or null when it may.
 * `auth`: the request carried Authorization (§3.5).
 */
export function unstorableReason(method: string, status: number, policy: ResponsePolicy, headers: readonly string[], auth: boolean, requestNoStore: boolean, allowSetCookie: boolean): string | null {
  if (method !== 'GET') return 'method';
  const cc = policy.cc;
  const understood = UNDERSTOOD_STATUSES.has(status);
  if (cc.has('must-understand')) {
    // §5.2.2.3: must-understand overrides no-store only when the status is understood.
    if (!understood) return 'status';
  } else {
    if (cc.has('no-store')) return 'no-store';
    if (!understood) return 'status';
  }
  if (requestNoStore) return 'request no-store';
  const priv = cc.get('private');
  if (priv === true || priv === CONFLICT) return 'private';
  if (auth && !cc.has('public') && !cc.has('s-maxage') && !cc.has('must-revalidate')) return 'authorization';
  const vary = joinedValue(headers, 'vary');
  if (vary !== undefined && fieldList(vary).includes('*')) return 'vary *';
  if (!allowSetCookie && headerValue(headers, 'set-cookie') !== undefined) return 'set-cookie';
  const hasValidator = headerValue(headers, 'etag') !== undefined || headerValue(headers, 'last-modified') !== undefined;
  // §3: something must make it cacheable; heuristically cacheable statuses always do.
  const allowed = cc.has('public') || cc.has('max-age') || cc.has('s-maxage') || headerValue(headers, 'expires') !== undefined || HEURISTIC_STATUSES.has(status) || policy.lifetime > 0;
  if (!allowed) return 'not cacheable';
  // Storing something that can be neither reused fresh, nor revalidated, nor served stale is pointless.
  if (policy.lifetime <= 0 && !hasValidator && policy.swr < 0 && policy.sie < 0) return 'no freshness';
  return null;
}

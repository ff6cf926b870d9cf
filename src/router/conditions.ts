/**
 * Header and query conditions of a route, compiled once. Query strings are scanned in
 * place: a value is only sliced out for a parameter whose name matches, and only decoded
 * when it holds `%` or `+`.
 */

import type { StringMatcher } from '../config/types.js';

const PERCENT = 37; // '%'
const PLUS = 43; // '+'
const EQUALS = 61; // '='

/**
 * A compiled `{exact|prefix|regex|present}` matcher. An absent value matches only
 * `present: false`; a present value must satisfy every one of exact, prefix and regex that
 * is given (an empty matcher, or `present: true` alone, takes any value).
 */
export class ValueMatcher {
  readonly mustBeAbsent: boolean;
  private readonly exact: string | undefined;
  private readonly prefix: string | undefined;
  private readonly regex: RegExp | undefined;

  constructor(m: StringMatcher) {
    this.mustBeAbsent = m.present === false;
    this.exact = m.exact;
    this.prefix = m.prefix;
    // Unanchored, as written: `Mobile` finds the word anywhere; anchor with ^ and $ for a full match.
    this.regex = m.regex === undefined ? undefined : new RegExp(m.regex);
  }

  /** Whether a present value matches. */
  test(value: string): boolean {
    if (this.mustBeAbsent) return false;
    if (this.exact !== undefined && value !== this.exact) return false;
    if (this.prefix !== undefined && !value.startsWith(this.prefix)) return false;
    if (this.regex !== undefined && !safeTest(this.regex, value)) return false;
    return true;
  }
}

/**
 * Runs a user regular expression. Irregexp can throw (stack exhaustion) on huge input for
 * some patterns; that is a non-match, never an exception on the request path.
 */
export function safeTest(re: RegExp, value: string): boolean {
  try {
    return re.test(value);
  } catch {
    return false;
  }
}

/** A condition on one request header (name lower-cased). */
export class HeaderCondition {
  constructor(
    readonly name: string,
    private readonly matcher: ValueMatcher,
  ) {}

  /** Repeated headers Node gives as an array match when any one value does. */
  test(headers: Readonly<Record<string, string | string[] | undefined>>): boolean {
    const v = headers[this.name];
    if (typeof v === 'string') return this.matcher.test(v);
    if (Array.isArray(v)) {
      if (this.matcher.mustBeAbsent) return false;
      for (let i = 0; i < v.length; i++) {
        const item: unknown = v[i];
        if (typeof item === 'string' && this.matcher.test(item)) return true;
      }
      return false;
    }
    // undefined, or anything a caller should not have put there: treated as absent.
    return this.matcher.mustBeAbsent;
  }
}

/**
 * A condition on one query parameter. Names and values are compared after decoding
 * (`%XX`, and `+` as a space, as in HTML forms and URLSearchParams); malformed encoding is
 * compared raw. A name given several times matches when any one value does; `?flag` with
 * no `=` has the value ''.
 */
export class QueryCondition {
  constructor(
    readonly name: string,
    private readonly matcher: ValueMatcher,
  ) {}

  test(query: string): boolean {
    const name = this.name;
    const n = query.length;
    let found = false;
    let i = 0;
    while (i < n) {
      let amp = query.indexOf('&', i);
      if (amp === -1) amp = n;
      if (amp > i) {
        let eq = i;
        while (eq < amp && query.charCodeAt(eq) !== EQUALS) eq++;
        if (keyEquals(query, i, eq, name)) {
          if (this.matcher.mustBeAbsent) return false;
          found = true;
          const value = eq < amp ? decodeQueryComponent(query, eq + 1, amp) : '';
          if (this.matcher.test(value)) return true;
        }
      }
      i = amp + 1;
    }
    return !found && this.matcher.mustBeAbsent;
  }
}

/** Compares query[start, end) with `name`, decoding only when the key holds an escape. */
function keyEquals(query: string, start: number, end: number, name: string): boolean {
  if (end - start === name.length && query.startsWith(name, start)) return true;
  for (let k = start; k < end; k++) {
    const c = query.charCodeAt(k);
    if (c === PERCENT || c === PLUS) return decodeQueryComponent(query, start, end) === name;
  }
  return false;
}

/** Decodes query[start, end): `+` is a space, `%XX` is UTF-8; the raw text on malformed input. */
export function decodeQueryComponent(query: string, start: number, end: number): string {
  let escaped = false;
  for (let k = start; k < end; k++) {
    const c = query.charCodeAt(k);
    if (c === PERCENT || c === PLUS) {
      escaped = true;
      break;
    }
  }
  const raw = query.slice(start, end);
  if (!escaped) return raw;
  const spaced = raw.replaceAll('+', ' ');
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced;
  }
}

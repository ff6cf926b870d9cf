/**
 * Conditional requests (RFC 9110 §13, RFC 9111 §4.3): the validators the cache puts on a
 * revalidation, and how a client's own conditions are answered from a stored response.
 */
import type { StoredResponse } from './entry.js';
import { headerValue, joinedValue, parseHttpDate } from './freshness.js';

/** A client's conditional request may get a 304 that cannot be stored: it never leads a collapse. */
export function isConditional(raw: readonly string[]): boolean {
  return headerValue(raw, 'if-none-match') !== undefined || headerValue(raw, 'if-modified-since') !== undefined;
}

/** What {@link addValidators} changed in a header list, so that {@link removeValidators} can undo it. */
export interface ValidatorEdit {
  /** Only the cache's validators went out: the client sent no condition of the kind used. */
  readonly ourValidatorOnly: boolean;
  /** The field edited (lower case), its value before (undefined: the cache added the line) and after. */
  readonly name: string;
  readonly before: string | undefined;
  readonly after: string;
}

/**
 * Puts the stored entry's validators on the upstream request. The client's own
 * conditionals are kept (combined, RFC 9111 §4.3.2), and edited in place: the planner
 * holds indexes into this list. Null when nothing was added (the client's If-None-Match
 * stands and the entry has no ETag).
 */
export function addValidators(headers: string[], e: StoredResponse): ValidatorEdit | null {
  let inm = -1;
  let ims = -1;
  for (let i = 0; i < headers.length; i += 2) {
    const n = headers[i]!.toLowerCase();
    if (n === 'if-none-match') inm = i;
    else if (n === 'if-modified-since') ims = i;
  }
  if (e.etag !== undefined) return edit(headers, inm, 'if-none-match', (before) => `${before}, ${e.etag!}`, e.etag);
  if (inm !== -1) return null;
  // Ours replaces the client's date: being right about what we hold matters more than
  // keeping a date the client may have made up.
  return edit(headers, ims, 'if-modified-since', () => e.lastModified!, e.lastModified!);
}

function edit(headers: string[], at: number, name: string, combine: (before: string) => string, alone: string): ValidatorEdit {
  if (at === -1) {
    headers.push(name, alone);
    return { ourValidatorOnly: true, name, before: undefined, after: alone };
  }
  const before = headers[at + 1]!;
  const after = combine(before);
  headers[at + 1] = after;
  return { ourValidatorOnly: name === 'if-modified-since', name, before, after };
}

/**
 * Undoes {@link addValidators}: the request goes out with the client's own conditions
 * only. The line is found again by name and value, since other code may have moved it.
 */
export function removeValidators(headers: string[], edit: ValidatorEdit): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    if (headers[i + 1] !== edit.after || headers[i]!.toLowerCase() !== edit.name) continue;
    if (edit.before === undefined) headers.splice(i, 2);
    else headers[i + 1] = edit.before;
    return;
  }
}

/** RFC 9110 §13.1.2 weak comparison over an If-None-Match list. */
export function etagListMatches(list: string, etag: string): boolean {
  if (list.trim() === '*') return true;
  const opaque = stripWeak(etag);
  for (const part of list.split(',')) if (stripWeak(part.trim()) === opaque) return true;
  return false;
}

/** RFC 9111 §4.3.2: the client's If-None-Match (else If-Modified-Since) against the stored response. */
export function clientConditionMatches(raw: readonly string[], e: StoredResponse): boolean {
  const inm = joinedValue(raw, 'if-none-match');
  if (inm !== undefined) return e.etag !== undefined && etagListMatches(inm, e.etag);
  const ims = headerValue(raw, 'if-modified-since');
  if (ims === undefined || e.status !== 200) return false;
  const since = parseHttpDate(ims);
  if (Number.isNaN(since)) return false;
  const lm = parseHttpDate(e.lastModified ?? headerValue(e.headers, 'date'));
  return !Number.isNaN(lm) && lm <= since;
}

/** The opaque part of an entity tag: `W/"x"` and `"x"` compare equal weakly. */
export function stripWeak(etag: string): string {
  return etag.startsWith('W/') ? etag.slice(2) : etag;
}

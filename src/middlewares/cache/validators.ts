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

/**
 * Puts the stored entry's validators on the upstream request. The client's own
 * conditionals are kept (combined, RFC 9111 §4.3.2), and edited in place: the planner
 * holds indexes into this list. True when only the cache's validators went out.
 */
export function addValidators(headers: string[], e: StoredResponse): boolean {
  let inm = -1;
  let ims = -1;
  for (let i = 0; i < headers.length; i += 2) {
    const n = headers[i]!.toLowerCase();
    if (n === 'if-none-match') inm = i;
    else if (n === 'if-modified-since') ims = i;
  }
  if (e.etag !== undefined) {
    if (inm === -1) headers.push('if-none-match', e.etag);
    else {
      headers[inm + 1] = `${headers[inm + 1]!}, ${e.etag}`;
      return false;
    }
    return true;
  }
  if (inm !== -1) return false;
  if (ims === -1) headers.push('if-modified-since', e.lastModified!);
  else headers[ims + 1] = e.lastModified!; // ours is no newer than what the client holds matters less than ours being right
  return true;
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

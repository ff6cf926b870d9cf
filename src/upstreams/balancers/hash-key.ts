import type { HashConfig } from '../../config/types.js';

/**
 * The consistent-hash key of a request, from where `hash.source` says:
 *
 * - `header`: the first value of the header `hash.name` (matched case-insensitively);
 * - `cookie`: the cookie `hash.name` (case-sensitive, as cookie names are), from any of the
 *   request's `Cookie` headers, spaces around it trimmed and one pair of double quotes
 *   removed, so `a="x"` and `a=x` give the same key;
 * - `ip`: the peer address the caller passes (pass the client address from a trusted
 *   forwarding header instead when Brisk runs behind a load balancer);
 * - `path`: the path as the caller passes it.
 *
 * Null when absent or empty: such requests are spread by round robin rather than all
 * landing on the one target that owns the empty key.
 *
 * Scans `rawHeaders` (Node's flat `[name, value, name, value, …]`) without building a map;
 * the only allocation is the returned substring for cookies.
 *
 * @example
 * hashKeyOf({ source: 'cookie', name: 'session', algorithm: 'ring', boundedLoad: 1.25 },
 *   ['Cookie', 'theme=dark; session="abc"'], '/cart', '10.0.0.7'); // 'abc'
 */
export function hashKeyOf(hash: HashConfig, rawHeaders: readonly string[], path: string, peerIp: string): string | null {
  switch (hash.source) {
    case 'header':
      return headerValue(rawHeaders, hash.name);
    case 'cookie':
      return cookieValue(rawHeaders, hash.name);
    case 'ip':
      return peerIp === '' ? null : peerIp;
    case 'path':
      return path === '' ? null : path;
  }
}

/** The first non-empty value of header `name` (any case) in Node's raw header list, or null. */
export function headerValue(rawHeaders: readonly string[], name: string): string | null {
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (sameHeaderName(rawHeaders[i]!, name)) {
      const value = rawHeaders[i + 1]!;
      return value === '' ? null : value;
    }
  }
  return null;
}

/**
 * The value of cookie `name` from the request's `Cookie` header(s) (HTTP/2 clients may send
 * several), or null when it is absent or empty. The first occurrence with a value wins, as
 * browsers send the most specific cookie first.
 */
export function cookieValue(rawHeaders: readonly string[], name: string): string | null {
  if (name === '') return null;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (!sameHeaderName(rawHeaders[i]!, 'cookie')) continue;
    const value = cookieIn(rawHeaders[i + 1]!, name);
    if (value !== null) return value;
  }
  return null;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/**
 * Cookie `name` in one `Cookie` header value (`a=1; b=2`), or null. One pass over the value:
 * searching each pair's "=" with `indexOf` could scan to the end of the header for every
 * pair, quadratic time on a hostile header like `a;a;a;…`.
 */
function cookieIn(header: string, name: string): string | null {
  const length = header.length;
  let i = 0;
  while (i < length) {
    const first = header.charCodeAt(i);
    if (first === 0x3b || isSpace(first)) {
      i++;
      continue;
    }
    // The pair is [i, end): up to the next ";", with its first "=" at eq.
    let eq = -1;
    let end = i;
    for (; end < length; end++) {
      const c = header.charCodeAt(end);
      if (c === 0x3b) break;
      if (c === 0x3d && eq === -1) eq = end;
    }
    if (eq !== -1) {
      let nameEnd = eq;
      while (nameEnd > i && isSpace(header.charCodeAt(nameEnd - 1))) nameEnd--;
      if (nameEnd - i === name.length && header.startsWith(name, i)) {
        let start = eq + 1;
        let stop = end;
        while (start < stop && isSpace(header.charCodeAt(start))) start++;
        while (stop > start && isSpace(header.charCodeAt(stop - 1))) stop--;
        if (stop - start >= 2 && header.charCodeAt(start) === 0x22 && header.charCodeAt(stop - 1) === 0x22) {
          start++;
          stop--;
        }
        if (stop > start) return header.slice(start, stop);
      }
    }
    i = end + 1;
  }
  return null;
}

/** ASCII case-insensitive equality, without lower-casing (which would allocate). */
function sameHeaderName(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0x41 && x <= 0x5a) x += 0x20;
    if (y >= 0x41 && y <= 0x5a) y += 0x20;
    if (x !== y) return false;
  }
  return true;
}

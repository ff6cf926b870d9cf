/**
 * Host names as the router compares them: port cut, trailing dot dropped, lower-cased,
 * with a small cache for the hosts that need work on every request.
 */

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
export function isNormalHost(host: string): boolean {
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
export class HostCache {
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

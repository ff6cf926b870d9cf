/**
 * Hop-by-hop header rules (RFC 9110 §7.6.1) on flat raw header lists
 * (`[name, value, …]`): what the proxy drops on the way back to the client, and what the
 * route cache must not store. Shared by both, so it sits at the bottom.
 */

/** Raw spellings remembered; bounded so a hostile peer sending random names cannot grow it. */
const KIND_CACHE_LIMIT = 4096;

const RESPONSE_HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailers', 'proxy-authenticate']);
const responseHopByRawName = new Map<string, boolean>();

/** True for response headers that must not be passed on to the client. */
export function isResponseHopByHop(name: string): boolean {
  let hop = responseHopByRawName.get(name);
  if (hop === undefined) {
    hop = RESPONSE_HOP_BY_HOP.has(name.toLowerCase());
    if (responseHopByRawName.size < KIND_CACHE_LIMIT) responseHopByRawName.set(name, hop);
  }
  return hop;
}

/**
 * The extra header names a `Connection` header lists (RFC 9110 §7.6.1): they are hop-by-hop
 * for this connection only. `close`, `keep-alive` and `upgrade` are already handled, so
 * the common values give null and cost nothing more.
 */
export function connectionListedNames(value: string): Set<string> | null {
  // The values nearly every peer sends, without splitting or allocating.
  if (value.length <= 10) {
    const v = value.length === 10 || value.length === 5 || value.length === 7 ? value.toLowerCase() : value;
    if (v === 'keep-alive' || v === 'close' || v === 'upgrade') return null;
  }
  let names: Set<string> | null = null;
  for (const token of value.split(',')) {
    const name = token.trim().toLowerCase();
    if (name === '' || name === 'close' || name === 'keep-alive' || name === 'upgrade') continue;
    (names ??= new Set()).add(name);
  }
  return names;
}

/** Removes every header named in `names` (lower-case) from a flat raw list, in place. */
export function removeNamed(raw: string[], names: ReadonlySet<string>): void {
  let w = 0;
  for (let r = 0; r < raw.length; r += 2) {
    if (names.has(raw[r]!.toLowerCase())) continue;
    raw[w++] = raw[r]!;
    raw[w++] = raw[r + 1]!;
  }
  raw.length = w;
}

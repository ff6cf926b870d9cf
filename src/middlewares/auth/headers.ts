/**
 * Small helpers over the flat header lists of the request context. Auth reads the client's
 * raw headers (where a duplicate is still visible, unlike node's joined `req.headers`) and
 * edits the flat list sent to the target.
 */

/**
 * Every value of header `name` (lower-case) in a flat `[name, value, …]` list.
 * Returns a shared empty array when there is none, so the common case allocates nothing.
 */
export function headerValues(raw: readonly string[], name: string): readonly string[] {
  let found: string[] | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const n = raw[i]!;
    if (n.length === name.length && n.toLowerCase() === name) (found ??= []).push(raw[i + 1]!);
  }
  return found ?? NONE;
}

const NONE: readonly string[] = Object.freeze([]);

/**
 * Removes every header whose lower-cased name is in `names` from a flat list, in place.
 * Used to drop identity headers a client sent itself before the gateway sets them.
 */
export function removeHeaders(list: string[], names: ReadonlySet<string>): void {
  if (names.size === 0) return;
  let w = 0;
  for (let r = 0; r + 1 < list.length; r += 2) {
    if (names.has(list[r]!.toLowerCase())) continue;
    if (w !== r) {
      list[w] = list[r]!;
      list[w + 1] = list[r + 1]!;
    }
    w += 2;
  }
  list.length = w;
}

/**
 * The values of cookie `name` across all Cookie headers (HTTP/2 clients send one header
 * per cookie). A cookie sent twice is returned twice so that the caller can refuse the
 * ambiguity rather than pick one.
 */
export function cookieValues(raw: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (const header of headerValues(raw, 'cookie')) {
    for (const part of header.split(';')) {
      const eq = part.indexOf('=');
      if (eq === -1) continue;
      if (part.slice(0, eq).trim() !== name) continue;
      let value = part.slice(eq + 1).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      out.push(value);
    }
  }
  return out;
}

/**
 * Removes cookie `name` from every Cookie header of a flat list, in place, dropping a
 * Cookie header that is left empty.
 */
export function removeCookie(list: string[], name: string): void {
  for (let i = 0; i + 1 < list.length; i += 2) {
    if (list[i]!.toLowerCase() !== 'cookie') continue;
    const kept = list[i + 1]!.split(';').filter((part) => {
      const eq = part.indexOf('=');
      return (eq === -1 ? part : part.slice(0, eq)).trim() !== name && part.trim() !== '';
    });
    if (kept.length === 0) {
      list.splice(i, 2);
      i -= 2;
    } else list[i + 1] = kept.map((p) => p.trim()).join('; ');
  }
}

/** Visible ASCII, space and tab: what can go into a header value on any HTTP version. */
const SAFE_VALUE = /^[\t\x20-\x7e]*$/;

/**
 * A claim or attribute as a header value: strings as they are, numbers and booleans
 * printed, arrays of scalars joined with commas, anything else as JSON. Characters that
 * cannot travel in a header (controls, CR/LF, non-ASCII) are percent-encoded, so a claim
 * can never split the request or make node throw. Undefined for absent or null values
 * and for values longer than `maxLength` (the header is then left out, not truncated,
 * because a truncated identity is a different identity).
 */
export function claimHeaderValue(value: unknown, maxLength = 4096): string | undefined {
  let text: string;
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number' || typeof value === 'boolean') text = String(value);
  else if (Array.isArray(value) && value.every((v) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')) text = value.join(',');
  else text = JSON.stringify(value) ?? '';
  if (!SAFE_VALUE.test(text)) {
    try {
      text = text.replace(/[^\t\x20-\x7e]|%/gu, (c) => encodeURIComponent(c));
    } catch {
      // A lone surrogate (JSON allows "\ud800") cannot be encoded: leave the header out.
      return undefined;
    }
  }
  return text.length > maxLength ? undefined : text;
}

/** A string as an RFC 9110 quoted-string (for `realm="…"` and error descriptions). */
export function quoted(text: string): string {
  return `"${text.replace(/[\\"]/g, (c) => `\\${c}`).replace(/[^\t\x20-\x7e]/g, '')}"`;
}

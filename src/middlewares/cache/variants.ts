/**
 * Which stored response a request may be answered with: the cache key and Vary
 * selection (RFC 9111 §4.1).
 */
import type { RequestContext } from '../../core/middleware.js';
import type { StoredResponse } from './entry.js';
import { joinedValue } from './freshness.js';

/** Request fields whose values are case-insensitive, for Vary matching. */
const CASELESS_VARY = new Set(['accept-encoding', 'accept-language', 'accept-charset', 'accept']);

/** The cache key: host (lower case) + path + query. */
export function cacheKey(ctx: RequestContext): string {
  const raw = ctx.rawHeaders;
  let host = '';
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]!;
    if ((n.length === 4 || n.length === 10) && (n.toLowerCase() === 'host' || n === ':authority')) {
      host = raw[i + 1]!.toLowerCase();
      break;
    }
  }
  return ctx.query === '' ? host + ctx.path : `${host}${ctx.path}?${ctx.query}`;
}

/** A request header's value as Vary compares it: lines combined, list members trimmed, case folded where the field is caseless. */
export function varyValue(raw: readonly string[], name: string): string | null {
  const v = joinedValue(raw, name);
  if (v === undefined) return null;
  const norm = v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .join(',');
  return CASELESS_VARY.has(name) ? norm.toLowerCase() : norm;
}

/** The stored variant this request may be answered with (RFC 9111 §4.1), most recent first. */
export function selectVariant(variants: readonly StoredResponse[], raw: readonly string[]): StoredResponse | null {
  let best: StoredResponse | null = null;
  for (const e of variants) {
    if (!varyMatches(e, raw)) continue;
    if (best === null || newer(e, best)) best = e;
  }
  return best;
}

function varyMatches(e: StoredResponse, raw: readonly string[]): boolean {
  const names = e.varyNames;
  if (names === null) return true;
  for (let i = 0; i < names.length; i++) if (varyValue(raw, names[i]!) !== e.varyValues[i]) return false;
  return true;
}

function newer(a: StoredResponse, b: StoredResponse): boolean {
  const da = Number.isNaN(a.dateValue) ? a.responseTime : a.dateValue;
  const db = Number.isNaN(b.dateValue) ? b.responseTime : b.dateValue;
  return da === db ? a.responseTime > b.responseTime : da > db;
}

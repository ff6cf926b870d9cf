/**
 * What a limit counts by: one function per limit, compiled from its `key` when the
 * route is built, that reads the key of a request from its context.
 *
 * The empty string stands for "the request has no such key" (no such header, claim or
 * identity, or an empty value): all those requests share one anonymous counter per
 * limit, so leaving a header out is no way around a limit.
 *
 * Keys become Map keys in the memory store and parts of Redis keys, and some of them
 * are chosen by the client. Values longer than {@link MAX_PLAIN_KEY} are replaced by a
 * hash, so a client cannot make the gateway or Redis hold kilobyte keys; an API key
 * sent in a header is always hashed, so no secret is written to Redis. Hashed keys
 * start with `#`, and plain values starting with `#` are hashed too, so the two
 * spaces cannot collide.
 */
import { createHash } from 'node:crypto';
import type { RequestContext } from '../../core/middleware.js';
import type { LimitKey } from './schema.js';

/** Reads a request's key for one limit; `''` means anonymous. */
export type KeyExtractor = (ctx: RequestContext) => string;

/** Longest key value kept as is (a full IPv6 address is 45 characters). */
export const MAX_PLAIN_KEY = 64;

const API_KEY_HEADER = 'x-api-key';

/**
 * Compiles a limit's key into an extractor.
 *
 * @example
 * const byUser = keyExtractor({ kind: 'header', name: 'x-user' }, 64);
 * byUser(ctx) // 'alice', or '' when the request has no X-User header
 */
export function keyExtractor(key: LimitKey, ipv6Prefix: number): KeyExtractor {
  switch (key.kind) {
    case 'ip':
      return (ctx) => ipKey(ctx.clientIp, ipv6Prefix);
    case 'route':
      // The route is part of every key already (Redis) or owns its tables (memory).
      return () => 'route';
    case 'header': {
      const name = key.name;
      return (ctx) => bounded(headerValue(ctx.rawHeaders, name));
    }
    case 'apiKey':
      return (ctx) => {
        const id = ctx.identity;
        if (id !== null && id.method === 'api-key') return bounded(id.subject);
        const raw = headerValue(ctx.rawHeaders, API_KEY_HEADER);
        return raw === '' ? '' : hashed(raw);
      };
    case 'identity':
      return (ctx) => (ctx.identity === null ? '' : bounded(ctx.identity.subject));
    case 'claim': {
      const name = key.name;
      const path = key.path;
      return (ctx) => (ctx.identity === null ? '' : bounded(claimValue(ctx.identity.claims, name, path)));
    }
  }
}

/**
 * The first value of a header, found case-insensitively in the raw headers without
 * lower-casing (which would allocate); `''` when absent. `lowerName` is lower case.
 */
export function headerValue(rawHeaders: readonly string[], lowerName: string): string {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (equalsLowerCase(rawHeaders[i]!, lowerName)) return (rawHeaders[i + 1] ?? '').trim();
  }
  return '';
}

function equalsLowerCase(candidate: string, lower: string): boolean {
  const n = lower.length;
  if (candidate.length !== n) return false;
  for (let i = 0; i < n; i++) {
    let c = candidate.charCodeAt(i);
    if (c >= 65 && c <= 90) c |= 0x20;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** A claim by its exact name, else by walking the dotted path (`org.id`); scalars only. */
function claimValue(claims: Readonly<Record<string, unknown>>, name: string, path: readonly string[]): string {
  let value: unknown = Object.hasOwn(claims, name) ? claims[name] : undefined;
  if (value === undefined && path.length > 1) {
    let at: unknown = claims;
    for (const step of path) {
      if (at === null || typeof at !== 'object' || !Object.hasOwn(at, step)) {
        at = undefined;
        break;
      }
      at = (at as Record<string, unknown>)[step];
    }
    value = at;
  }
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  // Objects and arrays (e.g. a roles list) count as one value each: the same list, the same counter.
  if (value !== null && typeof value === 'object') return JSON.stringify(value) ?? '';
  return '';
}

/** A value as a key: as is when short, else its hash (see the module comment). */
export function bounded(value: string): string {
  if (value === '') return '';
  if (value.length > MAX_PLAIN_KEY || value.charCodeAt(0) === 35 /* # */) return hashed(value);
  return value;
}

function hashed(value: string): string {
  return `#${createHash('sha256').update(value).digest('base64url')}`;
}

/**
 * The key of a client address: IPv4 as is (also when written IPv4-mapped,
 * `::ffff:10.0.0.1`), IPv6 as its network of `prefix` bits (`2001:db8:1:2::/64`),
 * because one IPv6 client usually holds a whole /64 and would otherwise get a fresh
 * counter per address.
 */
export function ipKey(ip: string, prefix: number): string {
  if (ip.indexOf(':') === -1) return ip;
  if (ip.startsWith('::ffff:') && ip.indexOf('.') !== -1) return ip.slice(7);
  const groups = expandIPv6(ip);
  if (groups === null) return bounded(ip); // not an address: count it as an opaque value
  const bits = Math.max(0, Math.min(128, prefix));
  let out = '';
  for (let g = 0; g < 8; g++) {
    const keep = bits - g * 16;
    const value = keep >= 16 ? groups[g]! : keep <= 0 ? 0 : groups[g]! & (0xffff << (16 - keep));
    out += (g === 0 ? '' : ':') + value.toString(16);
  }
  return bits === 128 ? out : `${out}/${bits}`;
}

/** The eight 16-bit groups of an IPv6 address (zone and embedded IPv4 allowed); null if invalid. */
function expandIPv6(ip: string): number[] | null {
  const percent = ip.indexOf('%');
  let text = percent === -1 ? ip : ip.slice(0, percent);
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) !== -1) {
    const v4 = text.slice(lastColon + 1).split('.');
    if (v4.length !== 4) return null;
    const b = v4.map((x) => (/^\d{1,3}$/.test(x) ? Number(x) : 256));
    if (b.some((x) => x > 255)) return null;
    tail.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
    text = `${text.slice(0, lastColon + 1)}0`; // placeholder group, dropped below
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parse = (s: string): number[] | null => {
    if (s === '') return [];
    const out: number[] = [];
    for (const part of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return null;
      out.push(parseInt(part, 16));
    }
    return out;
  };
  let head = parse(halves[0]!);
  let rest = halves.length === 2 ? parse(halves[1]!) : [];
  if (head === null || rest === null) return null;
  if (tail.length > 0) {
    // Replace the placeholder group with the two groups of the embedded IPv4 address.
    if (halves.length === 2) rest = [...rest.slice(0, -1), ...tail];
    else head = [...head.slice(0, -1), ...tail];
  }
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  return [...head, ...new Array<number>(missing).fill(0), ...rest];
}

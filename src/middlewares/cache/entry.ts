/**
 * A stored response and its (de)serialisation for the Redis tier.
 */
import { computePolicy, currentAge, headerValue, parseHttpDate, type PolicyOptions, type ResponsePolicy } from './freshness.js';

/** One stored response (one variant of a URL). */
export interface StoredResponse {
  /** The primary key: host + path + query. */
  readonly key: string;
  status: number;
  statusText: string;
  /** Response headers as stored: lower-case names, no hop-by-hop, no Content-Length/Age. */
  headers: string[];
  readonly body: Buffer;
  requestTime: number;
  responseTime: number;
  dateValue: number;
  ageValue: number;
  /** Request header names this variant was selected by (lower case), or null without Vary. */
  readonly varyNames: readonly string[] | null;
  /** Normalised request values for `varyNames` (null: header absent). */
  readonly varyValues: readonly (string | null)[];
  /** Cache-Tag / Surrogate-Key values, for purging. */
  tags: readonly string[];
  etag: string | undefined;
  lastModified: string | undefined;
  /** Derived from the headers; recomputed after a 304 updates them. */
  policy: ResponsePolicy;
  /** Bytes this entry counts for in the memory tier. */
  size: number;
}

/** Creates an entry from a captured response (headers already filtered). */
export function makeEntry(
  key: string,
  status: number,
  statusText: string,
  headers: string[],
  body: Buffer,
  requestTime: number,
  responseTime: number,
  varyNames: readonly string[] | null,
  varyValues: readonly (string | null)[],
  options: PolicyOptions,
  ageValue: number,
): StoredResponse {
  const e = {
    key,
    status,
    statusText,
    headers,
    body,
    requestTime,
    responseTime,
    dateValue: NaN,
    ageValue,
    varyNames,
    varyValues,
    tags: [] as string[],
    etag: undefined as string | undefined,
    lastModified: undefined as string | undefined,
    policy: null as unknown as ResponsePolicy,
    size: 0,
  };
  refresh(e, options);
  return e;
}

/** Recomputes what is derived from the headers (after creation, a 304 update or a load). */
export function refresh(e: StoredResponse, options: PolicyOptions): void {
  const h = e.headers;
  e.dateValue = parseHttpDate(headerValue(h, 'date'));
  e.etag = headerValue(h, 'etag');
  e.lastModified = headerValue(h, 'last-modified');
  e.policy = computePolicy(e.status, h, e.responseTime, options);
  const tags: string[] = [];
  for (let i = 0; i < h.length; i += 2) {
    const n = h[i]!;
    if (n === 'cache-tag' || n === 'surrogate-key') for (const t of h[i + 1]!.split(/[\s,]+/)) if (t !== '') tags.push(t);
  }
  e.tags = tags;
  let size = 256 + e.body.length + e.key.length;
  for (const s of h) size += s.length;
  e.size = size;
}

/** Seconds left of freshness (negative: stale by that much). */
export function ttlOf(e: StoredResponse, nowMs: number): number {
  return e.policy.lifetime - currentAge(e, nowMs);
}

/** How long (ms) an entry is worth keeping: fresh time plus the longest stale window, plus a grace for revalidation. */
export function retentionMs(e: StoredResponse, nowMs: number, staleDefaults: { swr: number; sie: number }): number {
  const p = e.policy;
  const stale = Math.max(p.swr, p.sie, staleDefaults.swr, staleDefaults.sie, 0);
  const hasValidator = e.etag !== undefined || e.lastModified !== undefined;
  // An entry with a validator stays useful after it expires: a 304 is cheaper than a 200.
  const grace = hasValidator ? 3600 : 0;
  return Math.max(1000, (ttlOf(e, nowMs) + stale + grace) * 1000);
}

/** Serialises an entry: 4-byte length, JSON of the metadata, then the body. */
export function encodeEntry(e: StoredResponse): Buffer {
  const meta = JSON.stringify({
    k: e.key,
    s: e.status,
    t: e.statusText,
    h: e.headers,
    rq: e.requestTime,
    rs: e.responseTime,
    a: e.ageValue,
    vn: e.varyNames,
    vv: e.varyValues,
  });
  const metaBuf = Buffer.from(meta);
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(metaBuf.length, 0);
  return Buffer.concat([head, metaBuf, e.body]);
}

interface EncodedMeta {
  k: string;
  s: number;
  t: string;
  h: string[];
  rq: number;
  rs: number;
  a: number;
  vn: string[] | null;
  vv: (string | null)[];
}

/** Parses what {@link encodeEntry} wrote; null when it is not an entry. */
export function decodeEntry(buf: Buffer, options: PolicyOptions): StoredResponse | null {
  try {
    if (buf.length < 4) return null;
    const len = buf.readUInt32BE(0);
    if (4 + len > buf.length) return null;
    const m = JSON.parse(buf.subarray(4, 4 + len).toString()) as EncodedMeta;
    if (typeof m.k !== 'string' || !Array.isArray(m.h)) return null;
    return makeEntry(m.k, m.s, m.t, m.h, Buffer.from(buf.subarray(4 + len)), m.rq, m.rs, m.vn, m.vv, options, typeof m.a === 'number' ? m.a : 0);
  } catch {
    return null;
  }
}

/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): parsing `traceparent` and
 * `tracestate`, and cheap random ids. Written by hand: it runs on every request, and the
 * rules fit in a page; the OpenTelemetry propagator would bring its context machinery
 * (and allocations) onto the hot path.
 */
import { randomHex } from '../core/random-ids.js';

/** What an incoming `traceparent` says, when it is valid. */
export interface IncomingTrace {
  readonly traceId: string;
  readonly parentId: string;
  readonly sampled: boolean;
}

const ZERO_TRACE_ID = '00000000000000000000000000000000';
const ZERO_SPAN_ID = '0000000000000000';

/**
 * Parses a `traceparent` value; null when it is invalid (the caller then starts a new
 * trace). Version 00 must be exactly `00-<32 hex>-<16 hex>-<2 hex>`, lower-case; a
 * higher version is read the same way for its first four fields and may carry more
 * after a `-` (§3.2.4, forward compatibility); version `ff` is invalid, as are all-zero ids.
 */
export function parseTraceparent(value: string): IncomingTrace | null {
  const len = value.length;
  if (len < 55) return null;
  const v0 = hexValue(value.charCodeAt(0));
  const v1 = hexValue(value.charCodeAt(1));
  if (v0 === -1 || v1 === -1) return null;
  const version = v0 * 16 + v1;
  if (version === 0xff) return null;
  if (version === 0 ? len !== 55 : len > 55 && value.charCodeAt(55) !== 45 /* '-' */) return null;
  if (value.charCodeAt(2) !== 45 || value.charCodeAt(35) !== 45 || value.charCodeAt(52) !== 45) return null;
  if (!isLowerHex(value, 3, 35) || !isLowerHex(value, 36, 52) || !isLowerHex(value, 53, 55)) return null;
  const traceId = value.slice(3, 35);
  const parentId = value.slice(36, 52);
  if (traceId === ZERO_TRACE_ID || parentId === ZERO_SPAN_ID) return null;
  const flags = hexValue(value.charCodeAt(54));
  return { traceId, parentId, sampled: (flags & 1) === 1 };
}

/** The `traceparent` value Brisk sends: always version 00, only the sampled flag. */
export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  return sampled ? `00-${traceId}-${spanId}-01` : `00-${traceId}-${spanId}-00`;
}

/** §3.3.1.5: at most 32 list-members. */
const TRACESTATE_MAX_MEMBERS = 32;
/** §3.3.1.5: a vendor should propagate at least 512 characters; longer is truncated. */
const TRACESTATE_MAX_LENGTH = 512;
/** §3.3.1.5: when truncating, members longer than this go first. */
const TRACESTATE_LONG_MEMBER = 128;
/** §3.3.1.3: `key=value`; simple or `tenant@system` keys; printable values without `,` `=`, no trailing space. */
const TRACESTATE_MEMBER = /^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/**
 * Validates a combined `tracestate` value (several header lines joined with `,`) and
 * returns what is passed on: the members in order, empty ones skipped, or null to drop
 * it all (a malformed member, a duplicate key, more than 32 members). Over 512
 * characters, members longer than 128 go first, then members from the end (§3.3.1.5).
 */
export function sanitizeTracestate(value: string): string | null {
  const members: string[] = [];
  const keys = new Set<string>();
  for (const raw of value.split(',')) {
    const member = raw.trim();
    if (member === '') continue;
    if (!TRACESTATE_MEMBER.test(member)) return null;
    const key = member.slice(0, member.indexOf('='));
    if (keys.has(key)) return null;
    keys.add(key);
    members.push(member);
    if (members.length > TRACESTATE_MAX_MEMBERS) return null;
  }
  if (members.length === 0) return null;
  let out = members.join(',');
  if (out.length <= TRACESTATE_MAX_LENGTH) return out;
  let kept = members.filter((m) => m.length <= TRACESTATE_LONG_MEMBER);
  while (kept.length > 0 && kept.join(',').length > TRACESTATE_MAX_LENGTH) kept = kept.slice(0, -1);
  out = kept.join(',');
  return out === '' ? null : out;
}

/** A random, non-zero 16-byte trace id, as 32 lower-case hex characters. */
export function newTraceId(): string {
  for (;;) {
    const id = randomHex(32);
    if (id !== ZERO_TRACE_ID) return id;
  }
}

/** A random, non-zero 8-byte span id, as 16 lower-case hex characters. */
export function newSpanId(): string {
  for (;;) {
    const id = randomHex(16);
    if (id !== ZERO_SPAN_ID) return id;
  }
}

/**
 * The sampling decision for a trace Brisk starts, consistent for a trace id: its last 7
 * bytes (random, per the W3C level-2 "random trace id" rule) compared with the ratio, so
 * every gateway with the same ratio decides the same way for the same trace.
 */
export function sampledByRatio(traceId: string, ratio: number): boolean {
  if (ratio >= 1) return true;
  if (ratio <= 0) return false;
  // 7 bytes = 56 bits fit a double exactly.
  return parseInt(traceId.slice(18), 16) < ratio * 2 ** 56;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

function isLowerHex(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (hexValue(s.charCodeAt(i)) === -1) return false;
  return true;
}

/** The trace fields of a request's plan (`ForwardPlan`). */
export interface TraceFields {
  traceId: string | undefined;
  spanId: string;
  parentSpanId: string;
  sampled: boolean;
  tracestate: string | null;
}

/**
 * Continues the caller's trace when its `traceparent` is valid (keeping its sampled
 * flag: parent-based sampling, and its `tracestate`), or starts a new one sampled at
 * `ratio`; either way the gateway's server span gets a new id. `traceparent` is null
 * when the caller sent two of them (invalid, §3.2).
 */
export function beginTrace(plan: TraceFields, traceparent: string | null | undefined, tracestate: string | undefined, ratio: number): void {
  const incoming = traceparent === undefined || traceparent === null ? null : parseTraceparent(traceparent);
  if (incoming !== null) {
    plan.traceId = incoming.traceId;
    plan.parentSpanId = incoming.parentId;
    plan.sampled = incoming.sampled;
    // §3.3: tracestate is only read along with a valid traceparent.
    if (tracestate !== undefined) plan.tracestate = sanitizeTracestate(tracestate);
  } else {
    const traceId = newTraceId();
    plan.traceId = traceId;
    plan.sampled = sampledByRatio(traceId, ratio);
  }
  plan.spanId = newSpanId();
}

/**
 * Writes `value` into the header slot planned at `index` (a value's position in a flat
 * `[name, value, …]` list). Route middlewares may remove headers in front of it (auth
 * strips spoofed identity headers), which shifts positions: then the slot is found again
 * by its name, from the end, or added. Returns the index used.
 */
export function fillHeaderSlot(headers: string[], index: number, name: string, value: string): number {
  if (headers[index - 1] !== name) {
    index = -1;
    for (let i = headers.length - 2; i >= 0; i -= 2) {
      if (headers[i] === name) {
        index = i + 1;
        break;
      }
    }
    if (index === -1) {
      headers.push(name, value);
      return headers.length - 1;
    }
  }
  headers[index] = value;
  return index;
}

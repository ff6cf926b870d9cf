/**
 * The rate-limit response headers.
 *
 * Follows draft-ietf-httpapi-ratelimit-headers-10 (September 2025), the latest draft
 * at the time of writing, whose fields are RFC 9651 structured-field Lists:
 *
 *   RateLimit-Policy: "per-ip";q=100;w=60, "per-user";q=1000;w=3600
 *   RateLimit: "per-ip";r=42;t=1
 *
 * - `RateLimit-Policy` lists every limit of the route: `q` is the quota (`rate`) and
 *   `w` the window (`per`) in seconds. `w` is left out when `per` is not a whole number
 *   of seconds (the draft only has integer seconds; the parameter is optional).
 * - `RateLimit` gives, per limit, `r` the quota left after this request and `t` the
 *   seconds until more quota is made available (draft-10 changed `t` from "until the
 *   quota resets" to this meaning, which fits token buckets and sliding windows).
 * - Policy names are structured-field Strings (quoted), as the draft asks; the config
 *   schema restricts names to characters that need no escaping.
 *
 * `Retry-After` (RFC 9110 §10.2.3) is in whole seconds, rounded up: a client that waits
 * exactly that long will pass.
 */
import type { Decision } from './algorithms.js';
import type { LimitConfig } from './schema.js';

/** `RateLimit-Policy` for a route's limits; built once per route. */
export function policyHeader(limits: readonly LimitConfig[]): string {
  let out = '';
  for (const l of limits) {
    if (out !== '') out += ', ';
    out += `"${l.name}";q=${l.rate}`;
    if (l.perMs % 1000 === 0) out += `;w=${l.perMs / 1000}`;
  }
  return out;
}

/** One `RateLimit` list member. */
export function rateLimitItem(name: string, d: Decision): string {
  return `"${name}";r=${d.remaining};t=${seconds(d.resetUs)}`;
}

/** Whole seconds, rounded up, from microseconds. */
export function seconds(us: number): number {
  return us <= 0 ? 0 : Math.ceil(us / 1_000_000);
}

/** `Retry-After` in whole seconds: at least 1, since a refused request should not be retried at once. */
export function retryAfterSeconds(us: number): number {
  return Math.max(1, seconds(us));
}

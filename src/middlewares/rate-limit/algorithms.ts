/**
 * The two rate-limit algorithms as pure arithmetic on a key's state, in integer
 * microseconds. The memory store calls these functions; the Redis store runs the same
 * arithmetic in Lua (redis-script.ts) — keep the two in step.
 *
 * Both are written "decide, then commit": a decision computes the state the key would
 * have if the request were counted, and the caller stores it only when every limit of
 * the route allowed the request, so that a refused request consumes no quota anywhere.
 *
 * Results go into a caller-owned {@link Decision} object instead of a fresh one, so a
 * decision on the hot path allocates nothing.
 */

/** The outcome of one limit for one request; reused between requests. */
export interface Decision {
  allowed: boolean;
  /** Requests still allowed right after this one (draft `r`); 0 when refused. */
  remaining: number;
  /** Refused: microseconds until a request would pass. 0 when allowed. */
  retryUs: number;
  /**
   * Microseconds until more quota becomes available (draft-ietf-httpapi-ratelimit-headers-10
   * `t`: "the number of seconds until additional quota ... is made available").
   */
  resetUs: number;
  /** The key's state after this request, stored only if every limit allowed it. */
  s0: number;
  s1: number;
  s2: number;
}

/** A decision object to reuse. */
export function newDecision(): Decision {
  return { allowed: false, remaining: 0, retryUs: 0, resetUs: 0, s0: 0, s1: 0, s2: 0 };
}

/** GCRA parameters: one request costs `intervalUs`; the bucket holds `burst` requests. */
export interface GcraParams {
  /** Emission interval: `per / rate`, in microseconds, at least 1. */
  readonly intervalUs: number;
  readonly burst: number;
}

/** Sliding-window parameters. */
export interface WindowParams {
  readonly windowUs: number;
  readonly limit: number;
}

/**
 * The generic cell rate algorithm (as in ATM networks and the `throttled`/`redis-cell`
 * rate limiters): the key's whole state is its theoretical arrival time (TAT), the time
 * at which its bucket would be full again. A request at `now` moves the TAT one interval
 * on; it passes when the new TAT is at most `burst` intervals ahead of `now`. This is a
 * token bucket of `burst` tokens refilled one per interval, kept as one number.
 *
 * State: `tat` (0 for a new key). On allow, `d.s0` is the new TAT.
 *
 * @example
 * const d = newDecision();
 * gcra(d, 0, 1_000_000, { intervalUs: 100_000, burst: 2 }); // allowed, remaining 1
 */
export function gcra(d: Decision, storedTat: number, nowUs: number, p: GcraParams): Decision {
  const t = p.intervalUs;
  const tat = storedTat > nowUs ? storedTat : nowUs;
  const newTat = tat + t;
  const allowAt = newTat - p.burst * t;
  if (nowUs < allowAt) {
    d.allowed = false;
    d.remaining = 0;
    d.retryUs = allowAt - nowUs;
    d.resetUs = d.retryUs;
    d.s0 = storedTat;
    return d;
  }
  // Whole tokens left once this request took its own.
  const remaining = Math.floor((p.burst * t - (newTat - nowUs)) / t);
  d.allowed = true;
  d.remaining = remaining;
  d.retryUs = 0;
  // The next token arrives when the TAT is one more interval closer to now.
  d.resetUs = newTat - nowUs - (p.burst - remaining - 1) * t;
  d.s0 = newTat;
  return d;
}

/**
 * The sliding window as Cloudflare and Upstash estimate it: counts of the current and
 * the previous fixed window, the previous one weighted by how much of it the sliding
 * window still covers, on the assumption that its requests were evenly spread. Two
 * integers per key instead of one timestamp per request.
 *
 * The weighted previous count is rounded down (as Upstash does): a client sending
 * steadily then gets the full `rate` per `per`, where the unrounded estimate would hold
 * it to `rate − 1`. The price is that a burst at the end of one window and the start of
 * the next can reach `rate + 1` in one `per`; use GCRA where that matters.
 *
 * State: `win` (index of the current window, `floor(now / window)`), `cur` and `prev`
 * counts. On allow, `d.s0..s2` are the new `win`, `cur`, `prev`.
 */
export function slidingWindow(d: Decision, win: number, cur: number, prev: number, nowUs: number, p: WindowParams): Decision {
  const w = p.windowUs;
  const idx = Math.floor(nowUs / w);
  if (win !== idx) {
    prev = win === idx - 1 ? cur : 0;
    cur = 0;
  }
  const elapsed = nowUs - idx * w;
  const estimate = Math.floor((prev * (w - elapsed)) / w) + cur;
  d.s0 = idx;
  d.s2 = prev;
  if (estimate + 1 > p.limit) {
    d.allowed = false;
    d.remaining = 0;
    d.retryUs = windowWait(prev, cur, elapsed, w, p.limit - 1);
    d.resetUs = d.retryUs;
    d.s1 = cur;
    return d;
  }
  const remaining = p.limit - estimate - 1;
  d.allowed = true;
  d.remaining = remaining;
  d.retryUs = 0;
  // When one more than `remaining` fits: the previous window's weight has to shrink.
  d.resetUs = windowWait(prev, cur + 1, elapsed, w, p.limit - remaining - 1);
  d.s1 = cur + 1;
  return d;
}

/**
 * Microseconds until the estimate `floor(prev × weight) + cur` is at most `target`,
 * `elapsed` into the current window. Within this window only the previous window's
 * share shrinks; once it is over, `cur` becomes the weighted previous count.
 * `floor(x) ≤ n ⇔ x < n + 1`, hence the strict comparisons (the `+ 1` microsecond).
 */
function windowWait(prev: number, cur: number, elapsed: number, w: number, target: number): number {
  if (Math.floor((prev * (w - elapsed)) / w) + cur <= target) return 0;
  if (cur <= target) {
    // prev × (w − e′) / w < target − cur + 1  ⇔  e′ > w − (target − cur + 1) × w / prev
    const at = w - ((target - cur + 1) * w) / prev;
    return Math.floor(at - elapsed) + 1;
  }
  // Into the next window: cur × (w − e″) / w < target + 1  ⇔  e″ > w − (target + 1) × w / cur
  const at = w - ((target + 1) * w) / cur;
  return w - elapsed + (at < 0 ? 0 : Math.floor(at) + 1);
}

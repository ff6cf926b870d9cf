/**
 * Fixed latency buckets shared by every histogram of the gateway, so that any two can be
 * merged by adding their counts (a window over many seconds, a route over many targets).
 *
 * The edges are a 1-1.5-2-2.5-3-4-5-6-7-8 grid per decade from 0.05 ms to 60 s: a bucket is
 * at most 50% wider than its lower edge (most are 25% or less), so a quantile read from
 * it is off by at most that much, and the grid contains every edge of the Prometheus
 * buckets (`PROMETHEUS_EDGES_S`), so the exposed histogram is folded from the same counts
 * exactly. Hand-written rather than an HDR histogram library because the windowed rings
 * need plain typed arrays they can add up, and a bucket index is one binary search.
 */

/** Upper edges in milliseconds, ascending; one more bucket catches what is above the last. */
export const EDGES_MS: Float64Array = (() => {
  const mantissas = [1, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8];
  const edges: number[] = [];
  for (let exp = -2; exp <= 4; exp++) {
    for (const m of mantissas) {
      // Rounded to kill binary noise (0.1 × 3 = 0.30000000000000004): edges must compare exactly.
      const v = Number((m * 10 ** exp).toPrecision(6));
      if (v >= 0.05 && v <= 60_000) edges.push(v);
    }
  }
  return Float64Array.from(edges);
})();

/** Number of buckets: one per edge plus the overflow bucket. */
export const BUCKETS = EDGES_MS.length + 1;

/** The buckets `/metrics` exposes (seconds): sub-millisecond to tens of seconds. */
export const PROMETHEUS_EDGES_S: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** For each Prometheus edge, the index of the fine bucket it closes. */
export const PROMETHEUS_EDGE_INDEX: readonly number[] = PROMETHEUS_EDGES_S.map((s) => {
  const i = EDGES_MS.indexOf(Number((s * 1000).toPrecision(6)));
  if (i === -1) throw new Error(`Prometheus edge ${s}s is not a latency bucket edge`);
  return i;
});

/**
 * The bucket of a duration: the first edge it does not exceed (Prometheus `le`
 * semantics), or the overflow bucket. Negative and NaN durations land in the first.
 */
export function bucketOf(ms: number): number {
  const edges = EDGES_MS;
  if (!(ms > edges[0]!)) return 0;
  let lo = 1;
  let hi = edges.length; // overflow
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ms <= edges[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * The q-quantile (0..1) of bucket counts, interpolated linearly inside its bucket; null
 * when the counts are all zero. A value in the overflow bucket reads as the last edge.
 *
 * @example
 * const counts = new Float64Array(BUCKETS);
 * counts[bucketOf(12)]++;
 * quantile(counts, 0.99); // ≈ 12 (within its bucket, 10..15 ms)
 */
export function quantile(counts: ArrayLike<number>, q: number, total?: number): number | null {
  let n = total ?? 0;
  if (total === undefined) for (let i = 0; i < BUCKETS; i++) n += counts[i]!;
  if (n <= 0) return null;
  const rank = q * n;
  let seen = 0;
  for (let i = 0; i < BUCKETS; i++) {
    const c = counts[i]!;
    if (c === 0) continue;
    if (seen + c >= rank) {
      if (i === BUCKETS - 1) return EDGES_MS[EDGES_MS.length - 1]!;
      const lo = i === 0 ? 0 : EDGES_MS[i - 1]!;
      const hi = EDGES_MS[i]!;
      const frac = Math.min(1, Math.max(0, (rank - seen) / c));
      return lo + (hi - lo) * frac;
    }
    seen += c;
  }
  return EDGES_MS[EDGES_MS.length - 1]!;
}

/**
 * A cheap running estimate of an upstream's latency quantiles, for hedging after the
 * observed p95. Log-spaced buckets from 0.1 ms to ~100 s; counts are halved every
 * `decayMs` so the estimate follows the recent past. O(1) per sample, no allocation.
 */
export class LatencyTracker {
  private static readonly BUCKETS = 64;
  /** Bucket i covers latencies up to UPPER[i] ms. */
  private static readonly UPPER = Float64Array.from({ length: LatencyTracker.BUCKETS }, (_, i) => 0.1 * Math.pow(1.25, i));
  private readonly counts = new Float64Array(LatencyTracker.BUCKETS);
  private total = 0;
  private decayAt = 0;
  private cachedP95 = 0;
  private cachedP99 = 0;
  private cachedAt = 0;

  constructor(private readonly decayMs = 10_000) {}

  record(ms: number): void {
    const i = ms <= 0.1 ? 0 : Math.min(LatencyTracker.BUCKETS - 1, Math.ceil(Math.log(ms / 0.1) / Math.log(1.25)));
    this.counts[i]! += 1;
    this.total += 1;
  }

  /** The 95th percentile in ms (0 when nothing was recorded); recomputed at most every 250 ms. */
  p95(): number {
    this.refresh();
    return this.cachedP95;
  }

  /** The 99th percentile in ms (0 when nothing was recorded); recomputed at most every 250 ms. */
  p99(): number {
    this.refresh();
    return this.cachedP99;
  }

  private refresh(): void {
    const now = Date.now();
    if (now - this.cachedAt < 250) return;
    this.cachedAt = now;
    if (now - this.decayAt >= this.decayMs) {
      this.decayAt = now;
      for (let i = 0; i < this.counts.length; i++) this.counts[i]! /= 2;
      this.total /= 2;
    }
    this.cachedP95 = this.quantile(0.95);
    this.cachedP99 = this.quantile(0.99);
  }

  quantile(q: number): number {
    if (this.total === 0) return 0;
    const want = this.total * q;
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= want) return LatencyTracker.UPPER[i]!;
    }
    return LatencyTracker.UPPER[LatencyTracker.BUCKETS - 1]!;
  }
}

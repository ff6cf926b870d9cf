/**
 * A cheap running estimate of latency quantiles (an upstream's, a target's), for hedging
 * after the observed p95 or p99. Log-spaced buckets from 0.1 ms to ~100 s, in two windows
 * of `windowMs`: the estimate reads the current window and the one before, and at each
 * rotation the older is dropped. So a stall (a frozen event loop, a slow moment of the
 * machine) leaves the estimate within two windows, where a slowly decaying average would
 * keep it above the stall's latencies for a minute (docs/chaos.md). A window that saw too
 * few samples to stand on its own (a quiet upstream) is folded into the older one, halved,
 * instead: little traffic keeps a longer memory. O(1) per sample, no allocation.
 */
export class LatencyTracker {
  private static readonly BUCKETS = 64;
  /** Bucket i covers latencies up to UPPER[i] ms. */
  private static readonly UPPER = Float64Array.from({ length: LatencyTracker.BUCKETS }, (_, i) => 0.1 * Math.pow(1.25, i));
  /** Samples a window needs to replace the one before it (fewer: the two are merged). */
  private static readonly ENOUGH = 200;
  private current = new Float64Array(LatencyTracker.BUCKETS);
  private previous = new Float64Array(LatencyTracker.BUCKETS);
  private currentTotal = 0;
  private previousTotal = 0;
  private rotateAt = 0;
  private cachedP95 = 0;
  private cachedP99 = 0;
  private cachedAt = 0;

  constructor(private readonly windowMs = 5_000) {}

  record(ms: number): void {
    const i = ms <= 0.1 ? 0 : Math.min(LatencyTracker.BUCKETS - 1, Math.ceil(Math.log(ms / 0.1) / Math.log(1.25)));
    this.current[i]! += 1;
    this.currentTotal += 1;
  }

  /** How many samples the estimate rests on (both windows). */
  get samples(): number {
    this.refresh();
    return this.currentTotal + this.previousTotal;
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
    if (now >= this.rotateAt) {
      // Skipped windows (nothing asked for an estimate) count as one rotation: what they
      // hold is the latest there is.
      if (this.rotateAt !== 0) this.rotate();
      this.rotateAt = now + this.windowMs;
    }
    this.cachedP95 = this.quantile(0.95);
    this.cachedP99 = this.quantile(0.99);
    // Nothing to estimate from yet: the first samples count as soon as they are recorded
    // (a hedge waits for the first estimate).
    if (this.currentTotal + this.previousTotal === 0) this.cachedAt = 0;
  }

  private rotate(): void {
    const older = this.previous;
    if (this.currentTotal >= LatencyTracker.ENOUGH) {
      older.fill(0);
      this.previous = this.current;
      this.previousTotal = this.currentTotal;
      this.current = older;
    } else {
      for (let i = 0; i < older.length; i++) older[i] = older[i]! / 2 + this.current[i]!;
      this.previousTotal = this.previousTotal / 2 + this.currentTotal;
      this.current.fill(0);
    }
    this.currentTotal = 0;
  }

  /** The `q` quantile (0–1) in ms over both windows, as the bucket's upper bound; 0 when empty. */
  quantile(q: number): number {
    const total = this.currentTotal + this.previousTotal;
    if (total === 0) return 0;
    const want = total * q;
    let seen = 0;
    for (let i = 0; i < LatencyTracker.BUCKETS; i++) {
      seen += this.current[i]! + this.previous[i]!;
      if (seen >= want) return LatencyTracker.UPPER[i]!;
    }
    return LatencyTracker.UPPER[LatencyTracker.BUCKETS - 1]!;
  }
}

/**
 * An adaptive concurrency limit, gradient style (after Netflix's concurrency-limits
 * `Gradient`/`Gradient2` and Envoy's adaptive concurrency filter): instead of a fixed
 * `maxConcurrent` that someone has to guess, the limit follows what the upstream can
 * take, judged by its latency.
 *
 * Latency samples are averaged over windows of at least `windowMs` and `minSamples`
 * samples. At the end of each window:
 *
 * ```
 * gradient = clamp(tolerance × minRtt / windowRtt, 0.5, 1)
 * target   = limit × gradient + √limit
 * limit    = clamp(limit × (1 − smoothing) + target × smoothing, minLimit, maxLimit)
 * ```
 *
 * While latency stays near the minimum, the gradient is 1 and the limit grows by a
 * fraction of √limit per window; once requests queue in the upstream, latency rises, the
 * gradient falls below 1 and the limit shrinks. It settles where about √limit requests
 * (plus `tolerance − 1` of the upstream's concurrency) wait in the upstream, which keeps
 * its queueing delay small. A window with dropped requests (timeouts, 503s: the caller
 * decides) cuts the limit by 10% whatever the latency. The limit does not grow while the
 * caller uses less than half of it (nothing can be learnt about a limit nobody reaches).
 *
 * `minRtt` is the lowest window average seen. A minimum only ever falls, so a service
 * that became slower for good (a new release, a bigger data set) would keep being judged
 * against its old speed; every `minRttRefreshMs` it is measured afresh: the limit is
 * pinned to half its value until the requests sent before have finished, one window
 * measures the unloaded latency, and the limit comes back. That costs half the
 * throughput for about one window, every `minRttRefreshMs` (Envoy pins to its minimum
 * concurrency instead; half keeps the dip small).
 *
 * Nothing allocates after construction. The clock is injectable for tests.
 *
 * @example
 * const limit = new AdaptiveLimit({ ...ADAPTIVE_DEFAULTS, maxLimit: 200 });
 * if (!limit.acquire()) return queueOrRefuse();
 * const started = performance.now();
 * const status = await send();
 * limit.release(performance.now() - started, status === 503 || status === 504);
 */
import type { AdaptiveLimitConfig } from './overload-schema.js';

/** A window with a drop keeps this share of the limit (TCP-like multiplicative decrease). */
const DROP_BACKOFF = 0.9;

export interface AdaptiveLimitStats {
  readonly limit: number;
  readonly inFlight: number;
  /** -1 until the first window. */
  readonly minRttMs: number;
  /** Average latency of the last window; -1 until the first window. */
  readonly lastRttMs: number;
  readonly windows: number;
  readonly acquired: number;
  readonly refused: number;
  readonly dropped: number;
  /** `minRtt` measurements done (refreshes). */
  readonly refreshes: number;
  /** True while the limit is pinned to measure `minRtt`. */
  readonly measuringMinRtt: boolean;
}

const enum Probe {
  Off = 0,
  /** Limit pinned; waiting for requests sent before the pin to finish. */
  Draining = 1,
  /** Measuring the unloaded latency. */
  Measuring = 2,
}

export class AdaptiveLimit {
  readonly config: AdaptiveLimitConfig;
  private readonly now: () => number;
  private value: number;
  private inflight = 0;
  private minRtt = Infinity;
  private lastRtt = -1;
  // The current window.
  private windowStart = -1;
  private samples = 0;
  private sumRtt = 0;
  private drops = 0;
  private peakInflight = 0;
  // minRtt refresh.
  private probe = Probe.Off;
  private probeStart = 0;
  private probeLimit = 0;
  private savedLimit = 0;
  private nextRefreshAt = Infinity;
  // Counters.
  private windowCount = 0;
  private acquiredCount = 0;
  private refusedCount = 0;
  private droppedCount = 0;
  private refreshCount = 0;

  constructor(config: AdaptiveLimitConfig, now: () => number = () => performance.now()) {
    this.config = config;
    this.now = now;
    this.value = Math.min(config.maxLimit, Math.max(config.minLimit, config.initialLimit));
  }

  /** The current limit: requests that may be in flight at once. */
  get limit(): number {
    return this.probe === Probe.Off ? Math.floor(this.value) : this.probeLimit;
  }

  get inFlight(): number {
    return this.inflight;
  }

  /** Takes a slot if fewer than `limit` requests are in flight. */
  acquire(): boolean {
    if (this.inflight >= this.limit) {
      this.refusedCount++;
      return false;
    }
    this.inflight++;
    this.acquiredCount++;
    if (this.inflight > this.peakInflight) this.peakInflight = this.inflight;
    return true;
  }

  /**
   * A request that `acquire` let through has ended after `rttMs`. `dropped`: it failed in
   * a way that says the upstream is overloaded (timed out, 503); its latency is not used.
   */
  release(rttMs: number, dropped: boolean): void {
    if (this.inflight > 0) this.inflight--;
    const now = this.now();
    if (this.probe !== Probe.Off) {
      this.onProbeSample(rttMs, dropped, now);
      return;
    }
    if (this.windowStart < 0) this.windowStart = now;
    if (dropped) {
      this.drops++;
      this.droppedCount++;
    } else if (rttMs >= 0 && Number.isFinite(rttMs)) {
      this.samples++;
      this.sumRtt += rttMs;
    }
    if (now - this.windowStart >= this.config.windowMs && this.samples + this.drops >= this.config.minSamples) this.endWindow(now);
  }

  /** A request that `acquire` let through ended without a meaningful latency (the client left). */
  abandon(): void {
    if (this.inflight > 0) this.inflight--;
  }

  stats(): AdaptiveLimitStats {
    return {
      limit: this.limit,
      inFlight: this.inflight,
      minRttMs: this.minRtt === Infinity ? -1 : this.minRtt,
      lastRttMs: this.lastRtt,
      windows: this.windowCount,
      acquired: this.acquiredCount,
      refused: this.refusedCount,
      dropped: this.droppedCount,
      refreshes: this.refreshCount,
      measuringMinRtt: this.probe !== Probe.Off,
    };
  }

  private endWindow(now: number): void {
    const c = this.config;
    this.windowCount++;
    let next = this.value;
    if (this.drops > 0) {
      next = this.value * DROP_BACKOFF;
    } else if (this.samples > 0) {
      const rtt = this.sumRtt / this.samples;
      this.lastRtt = rtt;
      if (rtt < this.minRtt) {
        if (this.minRtt === Infinity && c.minRttRefreshMs > 0) this.nextRefreshAt = now + c.minRttRefreshMs;
        this.minRtt = rtt;
      }
      const gradient = rtt <= 0 ? 1 : Math.max(0.5, Math.min(1, (c.tolerance * this.minRtt) / rtt));
      let target = this.value * gradient + Math.sqrt(this.value);
      // Nobody reached half the limit: its height says nothing, so it does not grow.
      if (target > this.value && this.peakInflight * 2 < this.value) target = this.value;
      next = this.value * (1 - c.smoothing) + target * c.smoothing;
    }
    this.value = Math.min(c.maxLimit, Math.max(c.minLimit, next));
    this.resetWindow(now);
    if (now >= this.nextRefreshAt) this.startProbe(now);
  }

  private resetWindow(now: number): void {
    this.windowStart = now;
    this.samples = 0;
    this.sumRtt = 0;
    this.drops = 0;
    this.peakInflight = this.inflight;
  }

  private startProbe(now: number): void {
    this.probe = Probe.Draining;
    this.probeStart = now;
    this.savedLimit = this.value;
    this.probeLimit = Math.max(this.config.minLimit, Math.floor(this.value / 2));
    if (this.inflight <= this.probeLimit) this.startMeasuring(now);
  }

  private startMeasuring(now: number): void {
    this.probe = Probe.Measuring;
    this.resetWindow(now);
  }

  private onProbeSample(rttMs: number, dropped: boolean, now: number): void {
    const c = this.config;
    // A refresh that cannot complete (only drops, or a very slow upstream) gives up.
    if (now - this.probeStart > Math.max(1000, 10 * c.windowMs, 3 * this.minRtt)) {
      this.endProbe(now, false);
      return;
    }
    if (this.probe === Probe.Draining) {
      if (this.inflight <= this.probeLimit) this.startMeasuring(now);
      return;
    }
    // Only requests sent after measuring began saw the pinned load.
    if (now - rttMs < this.windowStart) return;
    if (dropped) {
      this.droppedCount++;
      return;
    }
    this.samples++;
    this.sumRtt += rttMs;
    if (now - this.windowStart >= c.windowMs && this.samples >= c.minSamples) this.endProbe(now, true);
  }

  private endProbe(now: number, measured: boolean): void {
    if (measured) {
      this.minRtt = this.sumRtt / this.samples;
      this.lastRtt = this.minRtt;
      this.refreshCount++;
    }
    this.probe = Probe.Off;
    this.value = this.savedLimit;
    this.nextRefreshAt = now + this.config.minRttRefreshMs;
    this.resetWindow(now);
  }
}

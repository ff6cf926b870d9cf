/**
 * The autoscaler of one service: the Kubernetes HPA's rule, on the metrics Brisk has
 * because it is the balancer.
 *
 *     desired = ceil(current × metric / target)        per metric; the highest wins
 *
 * with `current` the ready instances and `metric` the average per ready instance over the
 * window (in-flight requests, CPU), or the upstream's p95 for latency. No change while
 * every ratio is within the tolerance. Stabilisation, as the HPA's behaviour: up to the
 * lowest recommendation of the last `upAfter` (0: at once), down to the highest of the
 * last `downAfter` (slowly), so a brief dip never removes capacity a burst needs a second
 * later. The result is kept within `min`..`max`.
 */
import type { ScaleConfig } from './config/types.js';

/** One reading of the service's load (one per supervisor tick). */
export interface LoadSample {
  /** `Date.now()`. */
  readonly at: number;
  /** Requests in flight over the ready instances. */
  readonly inFlight: number;
  /** Ready instances. */
  readonly ready: number;
  /** CPU of the ready instances, percent of one core, summed; null when not sampled yet. */
  readonly cpuPercent: number | null;
}

/** A recommendation and why. */
export interface Recommendation {
  readonly desired: number;
  /** `in-flight 31.5/instance over 8` — the metric that decided, for logs and the API. */
  readonly reason: string;
}

/**
 * @example
 * const a = new Autoscaler(config.scale!);
 * a.observe({ at: now, inFlight: 60, ready: 3, cpuPercent: null });
 * a.decide(now, 3, null, 2, 6) // { desired: 6, reason: 'in-flight 20/instance, target 8' }
 */
export class Autoscaler {
  private samples: LoadSample[] = [];
  private history: Array<{ at: number; desired: number }> = [];
  private first: { at: number; desired: number } | null = null;

  constructor(private config: ScaleConfig) {}

  reconfigure(config: ScaleConfig): void {
    this.config = config;
  }

  observe(sample: LoadSample): void {
    this.samples.push(sample);
    const from = sample.at - this.config.windowMs;
    while (this.samples.length > 0 && this.samples[0]!.at < from) this.samples.shift();
  }

  /**
   * What the instance count should be. `current`: the count kept now; `p95Ms`: the
   * upstream's p95 over the window (null without requests). Null while there is no
   * reading to go by (no ready instance yet).
   */
  decide(now: number, current: number, p95Ms: number | null, min: number, max: number): Recommendation | null {
    const raw = this.recommend(current, p95Ms);
    if (raw === null) return null;
    const desired = Math.min(max, Math.max(min, raw.desired));
    // The count it found holds the scale-down window from its first decision: a service is
    // not scaled down before it has been watched for scaleDownAfter (after a start, a reload).
    this.first ??= { at: now, desired: current };
    this.history.push({ at: now, desired });
    const keep = Math.max(this.config.upAfterMs, this.config.downAfterMs);
    while (this.history.length > 0 && this.history[0]!.at < now - keep) this.history.shift();
    const within = (ms: number) => this.history.filter((h) => h.at >= now - ms).map((h) => h.desired);
    const up = Math.min(...within(this.config.upAfterMs));
    const down = Math.max(...within(this.config.downAfterMs), ...(now - this.first.at < this.config.downAfterMs ? [this.first.desired] : []));
    if (up > current) return { desired: up, reason: raw.reason };
    if (down < current) return { desired: down, reason: raw.reason };
    return { desired: current, reason: raw.reason };
  }

  /** The unstabilised recommendation (the highest over the metrics), or null without data. */
  private recommend(current: number, p95Ms: number | null): Recommendation | null {
    const s = this.samples.filter((x) => x.ready > 0);
    if (s.length === 0) return null;
    const c = this.config;
    const ready = s[s.length - 1]!.ready;
    const candidates: Recommendation[] = [];
    const consider = (perInstance: number, target: number, base: number, what: string) => {
      const ratio = perInstance / target;
      const text = `${what} ${round(perInstance)}${what === 'p95' ? 'ms' : '/instance'}, target ${round(target)}`;
      // Within the tolerance: this metric says "stay as you are".
      if (Math.abs(ratio - 1) <= c.tolerance) candidates.push({ desired: current, reason: text });
      else candidates.push({ desired: Math.ceil(base * ratio - 1e-9), reason: text });
    };
    if (c.targetInFlight !== null) {
      const perInstance = mean(s.map((x) => x.inFlight / x.ready));
      consider(perInstance, c.targetInFlight, ready, 'in-flight');
    }
    if (c.targetCpuPercent !== null) {
      const cpu = s.filter((x) => x.cpuPercent !== null);
      if (cpu.length > 0) consider(mean(cpu.map((x) => x.cpuPercent! / x.ready)), c.targetCpuPercent, ready, 'cpu%');
    }
    if (c.targetP95Ms !== null && p95Ms !== null) consider(p95Ms, c.targetP95Ms, ready, 'p95');
    if (candidates.length === 0) return null;
    return candidates.reduce((a, b) => (b.desired > a.desired ? b : a));
  }
}

function mean(xs: readonly number[]): number {
  return xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

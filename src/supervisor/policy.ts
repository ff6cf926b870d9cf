/**
 * The restart policy's arithmetic, apart from processes and timers so it can be tested
 * on its own: the backoff after failures, the restart budget, and the latency rule.
 */
import type { ServiceSnapshot } from '../observability/snapshot.js';
import type { ServiceConfig, SlowRuleConfig } from './config/types.js';

/**
 * Wait before the `failures`-th start in a row that follows a failure: `initialMs`,
 * doubling, at most `maxMs`. Full jitter would spread the starts of many instances, but
 * one service restarts few at once, and a predictable delay reads better in the log.
 *
 * @example
 * backoffMs(1, 100, 30_000) // 100
 * backoffMs(4, 100, 30_000) // 800
 */
export function backoffMs(failures: number, initialMs: number, maxMs: number): number {
  if (failures <= 0) return 0;
  return Math.min(maxMs, initialMs * 2 ** Math.min(failures - 1, 30));
}

/**
 * Restarts of one service over a sliding window. A crash that would pass the budget
 * gives the service up (no more starts after failures, an alert); a restart for health,
 * latency or memory that would pass it waits instead.
 *
 * @example
 * const budget = new RestartBudget(5, 60_000);
 * if (!budget.allows(now)) giveUp();
 * budget.spend(now);
 */
export class RestartBudget {
  private readonly times: number[] = [];

  constructor(
    private restarts: number,
    private windowMs: number,
  ) {}

  reconfigure(restarts: number, windowMs: number): void {
    this.restarts = restarts;
    this.windowMs = windowMs;
  }

  /** Whether one more restart fits in the window ending at `now`. */
  allows(now: number): boolean {
    this.forget(now);
    return this.times.length < this.restarts;
  }

  spend(now: number): void {
    this.forget(now);
    this.times.push(now);
  }

  /** Restarts in the window ending at `now`. */
  used(now: number): number {
    this.forget(now);
    return this.times.length;
  }

  clear(): void {
    this.times.length = 0;
  }

  private forget(now: number): void {
    while (this.times.length > 0 && now - this.times[0]! >= this.windowMs) this.times.shift();
  }
}

/** What the latency rule knows of one ready instance over the window. */
export interface LatencyReading {
  /** p99 of the requests it answered in the window; null without requests. */
  readonly p99Ms: number | null;
  /** Requests it answered in the window. */
  readonly requests: number;
  /** Durations of its health probes sent in the window, ms. */
  readonly probesMs: readonly number[];
}

/** How the latency rule judged one instance. */
export interface SlowVerdict {
  readonly slow: boolean;
  /** What was compared: the window's p99, or the median of its health probes when it answered too few requests. */
  readonly basis: 'p99' | 'probes' | 'none';
  readonly valueMs: number;
}

/** Health probes in the window needed to judge an instance by them. */
export const MIN_PROBES = 3;

/**
 * The latency of one instance as the rule reads it: its p99 over the window when it
 * answered at least `minRequests` requests; else the median of its health probes over
 * the window (a slow instance gets little traffic from a latency-aware balancer, and
 * hedged requests to it are cancelled, so its own window may be empty while its probes
 * still say how long it takes to answer); else nothing.
 */
export function latencyOf(r: LatencyReading, rule: SlowRuleConfig): { basis: SlowVerdict['basis']; valueMs: number } {
  if (r.requests >= rule.minRequests && r.p99Ms !== null) return { basis: 'p99', valueMs: r.p99Ms };
  if (r.probesMs.length >= MIN_PROBES) {
    const sorted = [...r.probesMs].sort((a, b) => a - b);
    return { basis: 'probes', valueMs: sorted[Math.floor(sorted.length / 2)]! };
  }
  return { basis: 'none', valueMs: 0 };
}

/**
 * Whether an instance is slow: its latency above `rule.p99Ms` while most of its siblings
 * (those with a reading) are at or below it. With no sibling to compare with, nothing is
 * slow: a slow database makes every instance slow, and restarting them would not help.
 *
 * @example
 * judgeSlow({ p99Ms: 900, requests: 40, probesMs: [] }, [{ p99Ms: 20, requests: 300, probesMs: [] }], rule)
 * // { slow: true, basis: 'p99', valueMs: 900 }
 */
export function judgeSlow(self: LatencyReading, siblings: readonly LatencyReading[], rule: SlowRuleConfig): SlowVerdict {
  const own = latencyOf(self, rule);
  if (own.basis === 'none' || own.valueMs <= rule.p99Ms) return { slow: false, ...own };
  const others = siblings.map((s) => latencyOf(s, rule)).filter((s) => s.basis !== 'none');
  if (others.length === 0) return { slow: false, ...own };
  const fine = others.filter((s) => s.valueMs <= rule.p99Ms).length;
  return { slow: fine * 2 > others.length, ...own };
}

/** What the health rule needs to know of an instance's standing in its upstream. */
export interface HealthStanding {
  readonly health: 'healthy' | 'unhealthy' | 'ejected' | 'warming';
  readonly lastProbe: { readonly answered: boolean } | null;
}

/**
 * Why no instance should be restarted for failing its health check, or null. When every
 * serving instance answers its probe and says it is not ready (`/readyz → 503`), they are
 * alive and share the cause — a database failing over, a cache down — which a restart
 * cannot fix: replacements would fail their checks (or their start) the same way, spend
 * the restart budget, and the service would be given up, staying down after the
 * dependency came back. Kubernetes draws the same line between readiness (not routed to)
 * and liveness (restarted). An instance that does not answer (hung, dead) is restarted
 * whatever its siblings do, and one that is not ready while a sibling is fine is the odd
 * one out, restarted as before.
 *
 * @example
 * sharedUnreadiness([{ health: 'unhealthy', lastProbe: { answered: true } }]) // 'every instance (1) …'
 */
export function sharedUnreadiness(standings: readonly (HealthStanding | undefined)[]): string | null {
  if (standings.length === 0) return null;
  for (const s of standings) if (s === undefined || s.health !== 'unhealthy' || s.lastProbe?.answered !== true) return null;
  return `every instance (${standings.length}) answers its health check but is not ready: a dependency they share is down; restarting cannot fix that, so none is restarted for it while it lasts`;
}

/** How a service's instance count is decided: fixed, by the autoscaler, or by a scale command. */
export function modeOf(config: ServiceConfig): ServiceSnapshot['scaling'] {
  if (config.scale === null) return 'fixed';
  return config.scale.command !== null ? 'command' : 'auto';
}

import type { OutlierDetectionConfig } from '../../config/types.js';
import type { Logger } from '../../observability/logger.js';
import type { Ejection } from '../../core/views.js';
import type { Target } from '../target.js';

/**
 * How one proxied request to a target ended, as far as the target's health is concerned.
 * A 4xx, or a client that went away, is a `Success`: the target did its job.
 */
export const enum Outcome {
  Success = 0,
  /** The target answered with a 5xx status. */
  Http5xx = 1,
  /** Connect failure, connection reset or timeout: the target failed at the transport level. */
  GatewayFailure = 2,
}

/** Time buckets of the failure-rate window: the window slides in steps of `windowMs / 10`. */
const BUCKETS = 10;

/** Per-target counters; created once in the constructor so `onResult` never allocates. */
interface OutlierState {
  readonly target: Target;
  consecutive5xx: number;
  /** Gateway failures inside the current 5xx run (for the ejection reason only). */
  gatewayIn5xxRun: number;
  consecutiveGateway: number;
  /** Detail of the latest gateway failure (`connect ECONNREFUSED`), for the ejection reason. */
  lastGatewayDetail: string | null;
  readonly bucketTotal: Uint32Array;
  readonly bucketFailed: Uint32Array;
  /** Absolute index (`floor(now / bucketMs)`) of the newest bucket; -1: empty window. */
  head: number;
  windowTotal: number;
  windowFailed: number;
  readmitTimer: NodeJS.Timeout | null;
  /** `Date.now()` after which `target.ejections` decays by one. */
  decayAt: number;
}

/** What the admin API shows about a target's passive health. */
export interface OutlierStatus {
  readonly consecutive5xx: number;
  readonly consecutiveGatewayFailures: number;
  /** Requests and failures in the failure-rate window (0 when the rule is off). */
  readonly windowRequests: number;
  readonly windowFailures: number;
}

/**
 * The most targets of `n` that may be ejected at once:
 * `min(floor(maxEjectionRatio × n), n − 1)`, raised to 1 when `n ≥ 2` and the ratio is
 * above 0. So one target is never ejected, 2 or 3 targets at 50% allow 1, 10 at 100%
 * allow 9: whatever the ratio, at least one target always stays in.
 *
 * @example
 * maxEjectedTargets(3, 0.5); // 1
 * maxEjectedTargets(4, 1);   // 3
 */
export function maxEjectedTargets(n: number, maxEjectionRatio: number): number {
  if (n < 2 || maxEjectionRatio <= 0) return 0;
  // The epsilon keeps 0.29 × 100 (= 28.999…) from flooring to 28.
  return Math.min(Math.max(1, Math.floor(maxEjectionRatio * n + 1e-9)), n - 1);
}

/**
 * Passive health checking (outlier detection) for one upstream and config version: the
 * proxy reports how each request ended, and a target that fails live traffic is ejected
 * (takes no traffic) for a while.
 *
 * Rules, each checked when a failure is reported:
 * - `consecutive5xx` failures in a row. As in Envoy, a gateway failure counts too (the
 *   client sees a 502/504 either way), so a target alternating 500s and resets is caught.
 * - `consecutiveGatewayFailures` in a row. A 5xx answer resets this count (the target's
 *   transport works), as in Envoy.
 * - `failureRate`: the share of 5xx and gateway failures over a sliding window, once the
 *   target has had `minRequests` requests in it. The window is a ring of 10 time buckets,
 *   so it covers between 90% and 100% of `windowMs`.
 * A success resets both consecutive counts. Results reported while a target is ejected
 * are ignored (requests that were in flight), and every ejection attempt resets all of
 * the target's counts, so a target is judged afresh once it is back.
 *
 * An ejection lasts `min(baseEjectionMs × (target.ejections + 1), maxEjectionMs)`: longer
 * each time the same target is ejected again. Like Envoy, `target.ejections` decays by one
 * for each full `maxEjectionMs` the target spends in without being ejected.
 *
 * At most `maxEjectedTargets(n, maxEjectionRatio)` targets are ejected at once (see it);
 * an ejection refused by that cap is counted in `refusedEjections` and logged (at warn the
 * first time, then at debug until an ejection or readmission changes the picture).
 *
 * Ejection state lives on the `Target`, which outlives config versions: a detector built
 * for a new version schedules the readmission of targets still ejected, and `stop()` leaves
 * ejections in place for it.
 *
 * @example
 * const outliers = new OutlierDetector('shop', upstream.config.outlierDetection, upstream.targets, logger);
 * // in the proxy, once a response (or failure) is known:
 * outliers.onResult(target, status >= 500 ? Outcome.Http5xx : Outcome.Success, Date.now());
 * outliers.onResult(target, Outcome.GatewayFailure, Date.now(), 'connect ECONNREFUSED');
 */
/** Where a detector reports the ejections its own evidence justified (shared with other nodes). */
export interface OutlierHintSink {
  ejected(target: Target, ejection: Ejection): void;
  readmitted(target: Target): void;
}

export class OutlierDetector {
  private readonly states = new Map<Target, OutlierState>();
  /** Ejections made on other nodes' hints: never reported back as this node's own. */
  private readonly fromHints = new WeakSet<Ejection>();
  /** Told of this node's own ejections and readmissions; null: the node judges alone. */
  hints: OutlierHintSink | null = null;
  private readonly bucketMs: number;
  private stopped = false;
  /** A refusal by the cap has been logged at warn; reset when an ejection or readmission changes the count. */
  private capWarned = false;
  /** Ejections made by this detector. */
  ejectionsTotal = 0;
  /** Ejections the `maxEjectionPercent` cap refused. */
  refusedEjections = 0;

  constructor(
    private readonly upstream: string,
    private readonly config: OutlierDetectionConfig,
    private targets: readonly Target[],
    private readonly logger: Logger,
  ) {
    this.bucketMs = Math.max(1, (config.failureRate?.windowMs ?? 0) / BUCKETS);
    for (const target of targets) this.add(target, Date.now());
  }

  /**
   * Watches exactly `targets` from now on (the upstream's routable targets): new ones get
   * fresh counters, those that left are forgotten (a readmission timer of theirs is
   * cleared; an ejection stays on the target and is rescheduled if it comes back). The
   * ejection cap counts over this list.
   */
  follow(targets: readonly Target[]): void {
    if (this.stopped) return;
    this.targets = targets;
    const keep = new Set(targets);
    for (const [target, st] of this.states) {
      if (keep.has(target)) continue;
      if (st.readmitTimer !== null) clearTimeout(st.readmitTimer);
      this.states.delete(target);
    }
    const now = Date.now();
    for (const target of targets) this.add(target, now);
  }

  /** The targets this detector watches (the upstream's routable ones). */
  watched(): readonly Target[] {
    return this.targets;
  }

  private add(target: Target, now: number): void {
    if (this.states.has(target)) return;
    const state: OutlierState = {
      target,
      consecutive5xx: 0,
      gatewayIn5xxRun: 0,
      consecutiveGateway: 0,
      lastGatewayDetail: null,
      bucketTotal: new Uint32Array(BUCKETS),
      bucketFailed: new Uint32Array(BUCKETS),
      head: -1,
      windowTotal: 0,
      windowFailed: 0,
      readmitTimer: null,
      decayAt: now + this.decayPeriod(),
    };
    this.states.set(target, state);
    const ejection = target.ejection;
    // Ejected under the previous config version (or before it left and came back): this
    // detector now owns the readmission.
    if (ejection !== null) this.scheduleReadmission(state, ejection, Math.max(0, ejection.until - now));
  }

  /**
   * Reports how a request to `target` ended. `now` is `Date.now()` (the clock of ejection
   * times). `detail` names a gateway failure (`connect ECONNREFUSED`) for the ejection
   * reason. Does not allocate unless it ejects.
   */
  onResult(target: Target, outcome: Outcome, now: number, detail?: string): void {
    if (this.stopped) return;
    const st = this.states.get(target);
    if (st === undefined || target.ejection !== null) return;
    if (target.ejections > 0 && now >= st.decayAt) this.decay(st, now);

    const rate = this.config.failureRate;
    if (rate !== null) {
      const slot = this.advance(st, now);
      st.bucketTotal[slot]++;
      st.windowTotal++;
      if (outcome !== Outcome.Success) {
        st.bucketFailed[slot]++;
        st.windowFailed++;
      }
    }

    if (outcome === Outcome.Success) {
      st.consecutive5xx = 0;
      st.gatewayIn5xxRun = 0;
      st.consecutiveGateway = 0;
      return;
    }
    st.consecutive5xx++;
    if (outcome === Outcome.GatewayFailure) {
      st.consecutiveGateway++;
      st.gatewayIn5xxRun++;
      if (detail !== undefined) st.lastGatewayDetail = detail;
    } else {
      st.consecutiveGateway = 0;
    }

    const c = this.config;
    if (c.consecutiveGatewayFailures > 0 && st.consecutiveGateway >= c.consecutiveGatewayFailures) {
      const last = st.lastGatewayDetail === null ? '' : ` (last: ${st.lastGatewayDetail})`;
      this.tryEject(st, `${st.consecutiveGateway} consecutive gateway failures${last}`, now);
    } else if (c.consecutive5xx > 0 && st.consecutive5xx >= c.consecutive5xx) {
      const what = st.gatewayIn5xxRun === 0 ? '5xx' : '5xx or gateway failures';
      this.tryEject(st, `${st.consecutive5xx} consecutive ${what}`, now);
    } else if (rate !== null && st.windowTotal >= rate.minRequests && st.windowFailed >= rate.threshold * st.windowTotal - 1e-9) {
      const pct = Math.round((st.windowFailed / st.windowTotal) * 100);
      this.tryEject(st, `failure rate ${pct}% over ${formatMs(rate.windowMs)} (≥ ${Math.round(rate.threshold * 100)}%)`, now);
    }
  }

  /** The target's counters, for the admin API; undefined for a target this detector does not watch. */
  status(target: Target): OutlierStatus | undefined {
    const st = this.states.get(target);
    if (st === undefined) return undefined;
    if (this.config.failureRate !== null) this.advance(st, Date.now());
    return {
      consecutive5xx: st.consecutive5xx,
      consecutiveGatewayFailures: st.consecutiveGateway,
      windowRequests: st.windowTotal,
      windowFailures: st.windowFailed,
    };
  }

  /** Clears the readmission timers and ignores further results; ejections stay (the next version's detector readmits). */
  stop(): void {
    this.stopped = true;
    for (const st of this.states.values()) {
      if (st.readmitTimer !== null) clearTimeout(st.readmitTimer);
      st.readmitTimer = null;
    }
  }

  private tryEject(st: OutlierState, reason: string, now: number): void {
    const { target } = st;
    // Reset even when refused, so a target over the cap is judged again after a new run
    // (as Envoy does) instead of on every further failure.
    this.resetCounts(st);
    const allowed = maxEjectedTargets(this.targets.length, this.config.maxEjectionRatio);
    let ejected = 0;
    for (const t of this.targets) if (t.ejection !== null) ejected++;
    const { upstream } = this;
    if (ejected >= allowed) {
      this.refusedEjections++;
      const fields = { upstream, target: target.origin, reason, ejected, allowed, targets: this.targets.length };
      const message = `upstream "${upstream}": not ejecting target ${target.origin} (${reason}): ${ejected} of ${this.targets.length} targets already ejected, the most allowed by maxEjectionPercent`;
      if (this.capWarned) {
        this.logger.debug(fields, message);
      } else {
        this.capWarned = true;
        this.logger.warn(fields, message);
      }
      return;
    }
    const durationMs = Math.min(this.config.baseEjectionMs * (target.ejections + 1), Math.max(this.config.maxEjectionMs, this.config.baseEjectionMs));
    const ejection: Ejection = { reason, until: now + durationMs, at: now };
    target.eject(ejection);
    this.ejectionsTotal++;
    this.capWarned = false;
    this.logger.warn(
      { upstream, target: target.origin, reason, until: new Date(ejection.until).toISOString(), ejections: target.ejections },
      `upstream "${upstream}": ejected target ${target.origin} for ${formatMs(durationMs)}: ${reason}`,
    );
    this.scheduleReadmission(st, ejection, durationMs);
    this.hints?.ejected(target, ejection);
  }

  /**
   * Ejects the target whose origin is `origin` on the other nodes' word (a quorum of them
   * ejected it), until `until`; the cap still applies. Not reported as this node's own.
   * Returns whether it ejected.
   */
  ejectOnHint(origin: string, reason: string, until: number, now = Date.now()): boolean {
    if (this.stopped || until <= now) return false;
    let st: OutlierState | undefined;
    for (const s of this.states.values()) if (s.target.origin === origin) st = s;
    if (st === undefined || st.target.ejection !== null) return false;
    let ejected = 0;
    for (const t of this.targets) if (t.ejection !== null) ejected++;
    if (ejected >= maxEjectedTargets(this.targets.length, this.config.maxEjectionRatio)) {
      this.refusedEjections++;
      this.logger.debug({ upstream: this.upstream, target: origin, reason }, `upstream "${this.upstream}": not ejecting ${origin} on the shared hint: the maxEjectionPercent cap is reached`);
      return false;
    }
    const ejection: Ejection = { reason, until, at: now };
    this.fromHints.add(ejection);
    st.target.eject(ejection);
    this.ejectionsTotal++;
    this.logger.warn({ upstream: this.upstream, target: origin, reason, until: new Date(until).toISOString() }, `upstream "${this.upstream}": ejected target ${origin} on the shared hint: ${reason}`);
    this.scheduleReadmission(st, ejection, until - now);
    return true;
  }

  private scheduleReadmission(st: OutlierState, ejection: Ejection, delayMs: number): void {
    if (st.readmitTimer !== null) clearTimeout(st.readmitTimer);
    st.readmitTimer = setTimeout(() => {
      st.readmitTimer = null;
      const { target } = st;
      // Someone else ended or replaced this ejection meanwhile: not ours to end.
      if (this.stopped || target.ejection !== ejection) return;
      this.resetCounts(st);
      st.decayAt = Date.now() + this.decayPeriod();
      this.capWarned = false;
      try {
        target.readmit();
      } catch (err) {
        // An availability listener threw: a timer callback must not take the process down.
        this.logger.error({ upstream: this.upstream, target: target.origin, err }, `upstream "${this.upstream}": readmitting ${target.origin} failed`);
      }
      this.logger.info({ upstream: this.upstream, target: target.origin, reason: ejection.reason }, `upstream "${this.upstream}": readmitted target ${target.origin} after its ejection (${ejection.reason})`);
      if (!this.fromHints.has(ejection)) this.hints?.readmitted(target);
    }, delayMs);
    st.readmitTimer.unref();
  }

  /** One step down of the ejection multiplier per full decay period spent in. */
  private decay(st: OutlierState, now: number): void {
    const period = this.decayPeriod();
    const steps = 1 + Math.floor((now - st.decayAt) / period);
    st.target.ejections = Math.max(0, st.target.ejections - steps);
    st.decayAt += steps * period;
  }

  private decayPeriod(): number {
    return Math.max(1, this.config.maxEjectionMs, this.config.baseEjectionMs);
  }

  /** Moves the window to `now` (clearing buckets that fell out) and returns the slot for `now`. */
  private advance(st: OutlierState, now: number): number {
    const idx = Math.floor(now / this.bucketMs);
    if (idx > st.head) {
      const steps = idx - st.head;
      if (st.head < 0 || steps >= BUCKETS) {
        st.bucketTotal.fill(0);
        st.bucketFailed.fill(0);
        st.windowTotal = 0;
        st.windowFailed = 0;
      } else {
        for (let k = 1; k <= steps; k++) {
          const s = (st.head + k) % BUCKETS;
          st.windowTotal -= st.bucketTotal[s];
          st.windowFailed -= st.bucketFailed[s];
          st.bucketTotal[s] = 0;
          st.bucketFailed[s] = 0;
        }
      }
      st.head = idx;
    }
    // A result stamped before the newest bucket (out of order) counts in the newest one.
    return st.head % BUCKETS;
  }

  private resetCounts(st: OutlierState): void {
    st.consecutive5xx = 0;
    st.gatewayIn5xxRun = 0;
    st.consecutiveGateway = 0;
    st.lastGatewayDetail = null;
    st.bucketTotal.fill(0);
    st.bucketFailed.fill(0);
    st.windowTotal = 0;
    st.windowFailed = 0;
  }
}

/** `10s`, `2m`, `1500ms`: for log lines and reasons. */
function formatMs(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000 && ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

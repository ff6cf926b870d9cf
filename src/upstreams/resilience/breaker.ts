/**
 * An error-rate circuit breaker: when too many recent requests to an upstream fail, stop
 * sending it requests for a while (fail fast with 503 `BRISK_CIRCUIT_OPEN`), then let a
 * few probe requests through and resume only if they succeed.
 *
 * ```
 *            error rate ≥ errorThreshold           openDuration × 2^n elapsed
 *   closed ──(with ≥ minimumRequests in window)──► open ────────────────────────► half-open
 *     ▲                                             ▲                              │  │
 *     │                                             └──── a probe failed (n + 1) ──┘  │
 *     └──────────── halfOpenRequests probes succeeded (n back to 0) ──────────────────┘
 * ```
 *
 * - The window is a ring of 10 time buckets, so it slides in steps of a tenth of
 *   `windowMs` and covers between 90% and 100% of it. Recording a result is O(1) and
 *   allocates nothing.
 * - In half-open, at most `halfOpenRequests` probes are in flight at once; the rest are
 *   refused as if open. Each probe that succeeds counts; once `halfOpenRequests` have
 *   succeeded the breaker closes with an empty window. One failed probe reopens it, for
 *   twice as long as last time (up to `maxOpenDuration`).
 * - What counts as a failure is the caller's call: 5xx answers and gateway failures
 *   (connect failures, resets, timeouts) are; 4xx are not (the upstream did its job). A
 *   request the client abandoned should be `release`d, not reported.
 * - Results of requests let through in an earlier state are stale: a slow request sent
 *   before the breaker opened must not close it, nor count as a probe. The caller reads
 *   `epoch` right after `allow` and passes it with the result.
 * - A probe that neither reports nor is released within `windowMs` is forgotten (its slot
 *   freed), so a lost probe cannot keep the breaker half-open forever.
 *
 * Times are milliseconds from any monotonic clock (`performance.now()`), passed in by the
 * caller: the breaker reads no clock and starts no timer; the move from open to
 * half-open happens in the first `allow` after the open time.
 *
 * @example
 * const breaker = new CircuitBreaker(config, { name: 'products', onStateChange: (c) => log.warn(c, c.reason) });
 * const now = performance.now();
 * if (!breaker.allow(now)) return refuse('BRISK_CIRCUIT_OPEN', breakerMessage('products', breaker.retryAfterMs(now)));
 * const epoch = breaker.epoch;
 * const status = await send();
 * breaker.onResult(status < 500, performance.now(), epoch);
 */
import type { CircuitBreakerConfig } from './overload-schema.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

/** What `onStateChange` gets: enough for one log line and a metric. */
export interface BreakerStateChange {
  readonly name: string;
  readonly from: BreakerState;
  readonly to: BreakerState;
  /** The caller's clock at the change. */
  readonly at: number;
  /** Requests and failures in the window when it opened from closed (0 otherwise). */
  readonly requests: number;
  readonly failures: number;
  /** How long it stays open (0 unless `to` is `open`). */
  readonly openForMs: number;
  /** Openings in a row without a successful half-open (1 for the first). */
  readonly consecutiveOpenings: number;
  /** One line for the log. */
  readonly reason: string;
}

export interface BreakerStats {
  readonly state: BreakerState;
  readonly epoch: number;
  readonly windowRequests: number;
  readonly windowFailures: number;
  /** Milliseconds left before probes are let through (0 unless open). */
  readonly openRemainingMs: number;
  readonly consecutiveOpenings: number;
  readonly probesInFlight: number;
  /** Since the object was made. */
  readonly opened: number;
  readonly rejected: number;
  readonly staleResults: number;
}

export interface BreakerOptions {
  /** For messages and state changes: the upstream's name. */
  readonly name?: string;
  /** Called on every transition (synchronously; a throwing listener is ignored). */
  readonly onStateChange?: (change: BreakerStateChange) => void;
}

const BUCKETS = 10;

export class CircuitBreaker {
  readonly config: CircuitBreakerConfig;
  readonly name: string;
  private readonly listener: ((change: BreakerStateChange) => void) | null;
  private readonly bucketMs: number;
  private readonly total = new Uint32Array(BUCKETS);
  private readonly failed = new Uint32Array(BUCKETS);
  /** Absolute index (`floor(now / bucketMs)`) of the newest bucket; -1: empty window. */
  private head = -1;
  private windowTotal = 0;
  private windowFailed = 0;
  private current: BreakerState = 'closed';
  private epochNo = 0;
  private openUntil = 0;
  /** Openings since the breaker was last closed by probes. */
  private openings = 0;
  private probes = 0;
  private probeSuccesses = 0;
  private lastProbeAt = 0;
  private openedCount = 0;
  private rejectedCount = 0;
  private staleCount = 0;

  constructor(config: CircuitBreakerConfig, options: BreakerOptions = {}) {
    this.config = config;
    this.name = options.name ?? '';
    this.listener = options.onStateChange ?? null;
    this.bucketMs = Math.max(1, config.windowMs / BUCKETS);
  }

  get state(): BreakerState {
    return this.current;
  }

  /**
   * Changes on every transition. Read it right after a successful `allow` and pass it to
   * `onResult`/`release`, so that results of requests from an earlier state are ignored.
   */
  get epoch(): number {
    return this.epochNo;
  }

  /**
   * May a request be sent now? Closed: yes. Open: no, until the open time is over, when
   * the breaker turns half-open. Half-open: yes for up to `halfOpenRequests` probes in
   * flight at once. A refusal is counted.
   */
  allow(now: number): boolean {
    const state = this.current;
    if (state === 'closed') return true;
    if (state === 'open') {
      if (now < this.openUntil) {
        this.rejectedCount++;
        return false;
      }
      this.transition('half-open', now, 0, 0, 0, `upstream "${this.name}": circuit breaker half-open, letting ${this.config.halfOpenRequests} probe request(s) through`);
      this.probes = 0;
      this.probeSuccesses = 0;
    }
    // Half-open.
    if (this.probes >= this.config.halfOpenRequests) {
      if (now - this.lastProbeAt < this.config.windowMs) {
        this.rejectedCount++;
        return false;
      }
      // The probes in flight have been silent for a whole window: they are lost.
      this.probes = 0;
    }
    this.probes++;
    this.lastProbeAt = now;
    return true;
  }

  /**
   * The outcome of a request `allow` let through. `epoch` is the value read after that
   * `allow`; a result from an earlier epoch is counted as stale and otherwise ignored.
   */
  onResult(success: boolean, now: number, epoch: number = this.epochNo): void {
    if (epoch !== this.epochNo) {
      this.staleCount++;
      return;
    }
    const state = this.current;
    if (state === 'closed') {
      this.record(success, now);
      if (!success && this.windowTotal >= this.config.minimumRequests && this.windowFailed >= this.config.errorRatio * this.windowTotal) {
        const requests = this.windowTotal;
        const failures = this.windowFailed;
        const rate = Math.round((failures / requests) * 1000) / 10;
        this.open(now, requests, failures, `${failures} of the last ${requests} requests failed (${rate}%)`);
      }
      return;
    }
    if (state === 'half-open') {
      if (this.probes > 0) this.probes--;
      if (!success) {
        this.openings++;
        this.open(now, 0, 0, 'a probe request failed');
        return;
      }
      this.probeSuccesses++;
      if (this.probeSuccesses >= this.config.halfOpenRequests) {
        this.openings = 0;
        this.clearWindow();
        this.transition('closed', now, 0, 0, 0, `upstream "${this.name}": circuit breaker closed, ${this.probeSuccesses} probe request(s) succeeded`);
      }
    }
    // Open: a result in the open state's own epoch cannot happen (nothing was let through).
  }

  /**
   * A request `allow` let through ended without a result that says anything about the
   * upstream (the client left, a hedge won): frees its probe slot in half-open.
   */
  release(epoch: number = this.epochNo): void {
    if (epoch !== this.epochNo) return;
    if (this.current === 'half-open' && this.probes > 0) this.probes--;
  }

  /** How long until probes are let through: for `Retry-After`. At least 1 s when not closed. */
  retryAfterMs(now: number): number {
    if (this.current === 'closed') return 0;
    if (this.current === 'open') return Math.max(1000, this.openUntil - now);
    return 1000;
  }

  stats(now: number): BreakerStats {
    if (this.current === 'closed') this.advance(now);
    return {
      state: this.current,
      epoch: this.epochNo,
      windowRequests: this.windowTotal,
      windowFailures: this.windowFailed,
      openRemainingMs: this.current === 'open' ? Math.max(0, this.openUntil - now) : 0,
      consecutiveOpenings: this.current === 'closed' ? 0 : this.openings + 1,
      probesInFlight: this.current === 'half-open' ? this.probes : 0,
      opened: this.openedCount,
      rejected: this.rejectedCount,
      staleResults: this.staleCount,
    };
  }

  /**
   * Opens the breaker because the same upstream's breaker opened in another process of
   * the node (data-plane workers share the verdict: src/workers/), for what is left of
   * that opening. Already open: nothing changes.
   */
  openFrom(now: number, openForMs: number, why: string): void {
    if (this.current === 'open' || openForMs <= 0) return;
    this.openUntil = now + openForMs;
    this.openedCount++;
    this.probes = 0;
    this.probeSuccesses = 0;
    this.transition('open', now, 0, 0, openForMs, `upstream "${this.name}": circuit breaker open for ${openForMs}ms: ${why}`);
  }

  private open(now: number, requests: number, failures: number, why: string): void {
    const c = this.config;
    const openFor = Math.min(c.maxOpenMs, c.openMs * 2 ** Math.min(this.openings, 30));
    this.openUntil = now + openFor;
    this.openedCount++;
    this.probes = 0;
    this.probeSuccesses = 0;
    this.transition('open', now, requests, failures, openFor, `upstream "${this.name}": circuit breaker open for ${openFor}ms: ${why}`);
  }

  private transition(to: BreakerState, now: number, requests: number, failures: number, openForMs: number, reason: string): void {
    const from = this.current;
    this.current = to;
    this.epochNo++;
    const listener = this.listener;
    if (listener === null) return;
    try {
      listener({ name: this.name, from, to, at: now, requests, failures, openForMs, consecutiveOpenings: this.openings + 1, reason });
    } catch {
      // A listener's failure must not change what the breaker decides.
    }
  }

  private record(success: boolean, now: number): void {
    const i = this.advance(now);
    this.total[i]! += 1;
    this.windowTotal++;
    if (!success) {
      this.failed[i]! += 1;
      this.windowFailed++;
    }
  }

  /** The slot of the bucket for `now`, clearing buckets that slid out of the window. */
  private advance(now: number): number {
    const idx = Math.floor(now / this.bucketMs);
    if (this.head === -1) this.head = idx;
    else if (idx > this.head) {
      const clear = Math.min(idx - this.head, BUCKETS);
      for (let k = 1; k <= clear; k++) {
        const s = (this.head + k) % BUCKETS;
        this.windowTotal -= this.total[s]!;
        this.windowFailed -= this.failed[s]!;
        this.total[s] = 0;
        this.failed[s] = 0;
      }
      this.head = idx;
    }
    // A clock that went backwards counts into the newest bucket.
    return this.head % BUCKETS;
  }

  private clearWindow(): void {
    this.total.fill(0);
    this.failed.fill(0);
    this.windowTotal = 0;
    this.windowFailed = 0;
    this.head = -1;
  }
}

/**
 * The client message of a `BRISK_CIRCUIT_OPEN` refusal.
 *
 * @example
 * breakerMessage('products', 4200) // 'upstream "products" is failing; its circuit breaker is open (retry in 5s)'
 */
export function breakerMessage(upstream: string, retryAfterMs: number): string {
  return `upstream "${upstream}" is failing; its circuit breaker is open (retry in ${Math.ceil(retryAfterMs / 1000)}s)`;
}

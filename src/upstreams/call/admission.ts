import type { Upstream } from '../upstream.js';

/** What `Admission.admit` decided. */
export const enum Admit {
  Admitted = 0,
  /** The circuit breaker is open: fail fast (or take the route's fallback). */
  BreakerOpen = 1,
  /** `limits.maxRequests` requests are in flight already: refuse at once. */
  Overloaded = 2,
}

/**
 * A breaker verdict for `Admission.settle`: the upstream answered well (1), failed (0), or
 * the outcome says nothing about its health (-1: the caller left, a limit of our own
 * refused, the caller's body limit was hit).
 */
export type Verdict = 1 | 0 | -1;

/**
 * One request's admission to an upstream and what it holds there until it ends: the
 * circuit breaker epoch it was let through in, the `limits` request permit, the retry
 * permits of its retries and hedges. Fail-fast, allocation-free, and the one place where
 * anything is taken from or given back to an upstream's breaker and limits, for every
 * caller (the proxy, the internal client, background revalidation).
 *
 * @example
 * const admission = new Admission(upstream);
 * if (admission.admit(Date.now()) !== Admit.Admitted) return refuse();
 * try { … } finally { admission.settle(status < 500 ? 1 : 0); }
 */
export class Admission {
  /** The circuit breaker epoch this request was let through in (-1: none consulted). */
  private epoch = -1;
  private holdsRequest = false;
  /** Retries counted against `limits.maxRetries`, given back when the request ends. */
  private retryPermits = 0;

  constructor(readonly upstream: Upstream) {}

  /** Asks the breaker, then the limits. Nothing is held unless it returns `Admitted`. */
  admit(now: number): Admit {
    const { breaker, limits } = this.upstream;
    if (breaker !== null) {
      if (!breaker.allow(now)) return Admit.BreakerOpen;
      this.epoch = breaker.epoch;
    }
    if (limits !== null) {
      if (!limits.tryAcquireRequest()) {
        if (this.epoch !== -1) breaker?.release(this.epoch);
        this.epoch = -1;
        return Admit.Overloaded;
      }
      this.holdsRequest = true;
    }
    return Admit.Admitted;
  }

  /** A retry or hedge may be sent (`limits.maxRetries`); the permit is held until `settle`. */
  tryAcquireRetry(): boolean {
    const limits = this.upstream.limits;
    if (limits === null) return true;
    if (!limits.tryAcquireRetry()) return false;
    this.retryPermits++;
    return true;
  }

  /** Gives back what was taken and tells the breaker how the request went. Idempotent. */
  settle(verdict: Verdict): void {
    const { breaker, limits } = this.upstream;
    for (; this.retryPermits > 0; this.retryPermits--) limits?.releaseRetry();
    if (this.holdsRequest) {
      this.holdsRequest = false;
      limits?.releaseRequest();
    }
    if (this.epoch !== -1 && breaker !== null) {
      const epoch = this.epoch;
      this.epoch = -1;
      if (verdict === -1) breaker.release(epoch);
      else breaker.onResult(verdict === 1, Date.now(), epoch);
    }
  }
}

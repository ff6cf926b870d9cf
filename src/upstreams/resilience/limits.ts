/**
 * Envoy-style upstream limits ("circuit breaking thresholds" in Envoy's words): hard caps
 * on what one upstream may have outstanding at once, so that a slow upstream cannot tie
 * up every socket and every byte of memory of the gateway. Past a cap the request is
 * refused at once (503 `BRISK_UPSTREAM_OVERLOADED` with `Retry-After`) instead of
 * joining an ever longer line.
 *
 * Three counters, each acquired before the thing it counts and released exactly once
 * after it:
 * - requests in flight to the upstream (`maxRequests`);
 * - requests waiting for a connection of the pool (`maxPendingRequests`): the caller
 *   knows when a request has to wait (all connections busy) and when it got one;
 * - retries in flight (`maxRetries`): a refused retry is not an error, the caller just
 *   gives the client the answer it already has.
 *
 * The object holds a handful of numbers: acquiring and releasing allocate nothing.
 *
 * @example
 * const limits = new UpstreamLimits({ maxRequests: 512, maxPendingRequests: 128, maxRetries: 3, retryAfterS: 1 });
 * if (!limits.tryAcquireRequest()) return refuse('BRISK_UPSTREAM_OVERLOADED', overloadMessage('products', 'requests', 512));
 * try { await send(); } finally { limits.releaseRequest(); }
 */
import type { UpstreamLimitsConfig } from './overload-schema.js';

/** Which limit refused a request. */
export type LimitKind = 'requests' | 'pending' | 'retries';

/** What the admin API and metrics show. */
export interface UpstreamLimitsStats {
  readonly requests: number;
  readonly pending: number;
  readonly retries: number;
  readonly maxRequests: number;
  readonly maxPendingRequests: number;
  readonly maxRetries: number;
  /** Refusals since the object was made, by limit. */
  readonly refusedRequests: number;
  readonly refusedPending: number;
  readonly refusedRetries: number;
  /** Releases without a matching acquire (a caller bug); counted, never taken below zero. */
  readonly unbalancedReleases: number;
}

export class UpstreamLimits {
  readonly config: UpstreamLimitsConfig;
  private requests = 0;
  private pending = 0;
  private retries = 0;
  private refusedRequests = 0;
  private refusedPending = 0;
  private refusedRetries = 0;
  private unbalanced = 0;

  constructor(config: UpstreamLimitsConfig) {
    this.config = config;
  }

  /** Takes a request slot; false (and counted) when `maxRequests` are in flight. */
  tryAcquireRequest(): boolean {
    if (this.requests >= this.config.maxRequests) {
      this.refusedRequests++;
      return false;
    }
    this.requests++;
    return true;
  }

  releaseRequest(): void {
    if (this.requests > 0) this.requests--;
    else this.unbalanced++;
  }

  /**
   * Takes a pending slot for a request that must wait for a connection; false (and
   * counted) when `maxPendingRequests` already wait. Release it when the request got its
   * connection, or when it ended before that.
   */
  tryAcquirePending(): boolean {
    if (this.pending >= this.config.maxPendingRequests) {
      this.refusedPending++;
      return false;
    }
    this.pending++;
    return true;
  }

  releasePending(): void {
    if (this.pending > 0) this.pending--;
    else this.unbalanced++;
  }

  /** Takes a retry slot; false (and counted) when `maxRetries` retries are in flight: do not retry. */
  tryAcquireRetry(): boolean {
    if (this.retries >= this.config.maxRetries) {
      this.refusedRetries++;
      return false;
    }
    this.retries++;
    return true;
  }

  releaseRetry(): void {
    if (this.retries > 0) this.retries--;
    else this.unbalanced++;
  }

  /** Requests in flight now. */
  get inFlight(): number {
    return this.requests;
  }

  /** The `Retry-After` value of a refusal, as the header wants it. */
  get retryAfter(): string {
    return String(this.config.retryAfterS);
  }

  stats(): UpstreamLimitsStats {
    const c = this.config;
    return {
      requests: this.requests,
      pending: this.pending,
      retries: this.retries,
      maxRequests: c.maxRequests,
      maxPendingRequests: c.maxPendingRequests,
      maxRetries: c.maxRetries,
      refusedRequests: this.refusedRequests,
      refusedPending: this.refusedPending,
      refusedRetries: this.refusedRetries,
      unbalancedReleases: this.unbalanced,
    };
  }
}

/**
 * The client message of a `BRISK_UPSTREAM_OVERLOADED` refusal: names the upstream, the
 * limit and how to raise it.
 *
 * @example
 * overloadMessage('products', 'requests', 512)
 * // 'upstream "products" has 512 requests in flight (limits.maxRequests); try again later'
 */
export function overloadMessage(upstream: string, kind: LimitKind, limit: number): string {
  switch (kind) {
    case 'requests':
      return `upstream "${upstream}" has ${limit} requests in flight (limits.maxRequests); try again later`;
    case 'pending':
      return `upstream "${upstream}" has ${limit} requests waiting for a connection (limits.maxPendingRequests); try again later`;
    case 'retries':
      return `upstream "${upstream}" has ${limit} retries in flight (limits.maxRetries)`;
  }
}

import type { RetryConfig } from '../../config/types.js';
import type { ErrorCode } from '../../core/errors.js';
import { NOT_SENT, RETRYABLE_ERRORS } from '../errors.js';
import type { RetryBudget } from '../resilience/retry-budget.js';

/**
 * Why a retry was not made, when the policy itself allowed it; the caller logs it.
 */
export const enum RetryRefusal {
  None = 0,
  /** The request body was streamed past `retry.maxBufferedBody` and cannot be sent again. */
  BodyNotReplayable = 1,
  /** The upstream's retry budget is spent. */
  BudgetSpent = 2,
}

/**
 * The retry policy of one request, applied: the one definition of "may this failure be
 * retried" for every caller of an upstream (Envoy's `RetryState`). A failure is retried
 * when retries are left, the deadline has not passed, the failure is retryable — a status
 * in `retry.statuses`, or a connection-level error — and repeating the request is safe:
 * an idempotent method (or an `Idempotency-Key`), `retry.unsafeMethods`, or an error that
 * proves the request was never sent (connect failed). The upstream's retry budget has the
 * last word, so a failing upstream is not hammered by retries.
 */
export class RetryState {
  /** Retries made so far. */
  retries = 0;
  /** Why the last `allows` said no although the policy would have retried. */
  refusal = RetryRefusal.None;

  constructor(
    readonly policy: RetryConfig,
    /** Repeating the request is safe (idempotent method or `Idempotency-Key`). */
    readonly idempotent: boolean,
    private readonly budget: RetryBudget,
  ) {}

  /** True when a response with this status is one the policy retries. */
  retriesStatus(status: number): boolean {
    return this.policy.statuses.includes(status);
  }

  /**
   * True when a gRPC answer with this `grpc-status` in its head (a trailers-only answer:
   * no message was sent) is one the policy retries; -1 (no status in the head) never is.
   */
  retriesGrpcStatus(grpcStatus: number): boolean {
    return grpcStatus > 0 && this.policy.grpcStatuses.includes(grpcStatus);
  }

  /**
   * May this failure be retried? `status` is the target's answer when it sent a retryable
   * status, 0 when nothing came back (then `code` says why). `deadline` is `Date.now()`
   * time (0: none); `bodyReplayable` whether the request body can be sent again.
   */
  allows(code: ErrorCode, status: number, deadline: number, bodyReplayable: boolean): boolean {
    this.refusal = RetryRefusal.None;
    const policy = this.policy;
    if (this.retries >= policy.attempts) return false;
    if (deadline !== 0 && Date.now() >= deadline) return false;
    const safe = this.idempotent || policy.unsafeMethods;
    if (status !== 0) {
      if (!safe) return false;
    } else {
      if (!RETRYABLE_ERRORS.has(code)) return false;
      if (!NOT_SENT.has(code) && !safe) return false;
    }
    if (!bodyReplayable) {
      this.refusal = RetryRefusal.BodyNotReplayable;
      return false;
    }
    if (!this.budget.canRetry()) {
      this.refusal = RetryRefusal.BudgetSpent;
      return false;
    }
    return true;
  }

  /** Counts a retry that is being sent. */
  onRetry(): void {
    this.retries++;
    this.budget.onRetry();
  }

  /** Full-jitter exponential backoff before the next retry, never past the deadline. */
  backoffMs(deadline: number): number {
    const { backoffBaseMs, backoffMaxMs } = this.policy;
    if (backoffBaseMs <= 0) return 0;
    const cap = Math.min(backoffMaxMs, backoffBaseMs * 2 ** (this.retries - 1));
    const jittered = Math.random() * cap;
    return deadline === 0 ? jittered : Math.min(jittered, Math.max(0, deadline - Date.now()));
  }
}

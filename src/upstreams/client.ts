/**
 * A small internal HTTP client for requests the gateway makes itself (aggregate parts,
 * and later a cache's background revalidation): one request to an upstream, through the
 * same machinery as a proxied request — circuit breaker and `limits` admission, the
 * balancer (pick, excluding targets already tried), retries on another target within the
 * retry budget, per-try and total timeouts, outlier detection and latency feedback — and
 * the whole answer, body included (bounded), in memory.
 *
 * It uses undici's callback dispatch API directly on the target's pool, like the proxy's
 * `Attempt`: raw headers and body chunks with no stream objects in between.
 *
 * @example
 * const res = await upstreamRequest(upstream, { path: '/api/users/1', headers: ['accept', 'application/json'], timeoutMs: 2000 });
 * if (res.status === 200) JSON.parse(res.body.toString('utf8'));
 */
import type { Dispatcher } from 'undici';
import { BriskError, type ErrorCode } from '../core/errors.js';
import type { RetryConfig } from '../config/types.js';
import { GATEWAY_FAILURE_PENALTY_MS, IDEMPOTENT, NOT_SENT, RETRYABLE_ERRORS, upstreamErrorCode, upstreamErrorMessage } from './errors.js';
import { Outcome } from './health/outlier.js';
import type { Target } from './target.js';
import type { Upstream } from './upstream.js';

export interface UpstreamRequestOptions {
  /** Default `GET`. */
  readonly method?: string;
  /** Path and query, without the target's base path; starts with `/`. */
  readonly path: string;
  /** Request headers, flat `[name, value, …]`, without `host` (see `host`). */
  readonly headers?: readonly string[];
  /** The `Host` to send when the upstream preserves the client's (`hostHeader: preserve`); the target's host otherwise. */
  readonly host?: string;
  readonly body?: string | Buffer | null;
  /** The whole request, retries included; `0`: no limit beyond the upstream's timeouts. */
  readonly timeoutMs: number;
  /** Aborts the request (it then fails with `cancelled` set). */
  readonly signal?: AbortSignal;
  /** Largest response body kept; a larger one fails with `BRISK_UPSTREAM_RESPONSE_TOO_LARGE`. `0`: no limit. Default 1 MiB. */
  readonly maxBodyBytes?: number;
  /** A header that tells the target how many milliseconds are left of `timeoutMs` (`proxy.deadlineHeader`), set per try. */
  readonly deadlineHeader?: string | false;
}

export interface UpstreamResponse {
  readonly status: number;
  /** Response headers, flat `[name, value, …]`, names lower-cased. */
  readonly headers: string[];
  readonly body: Buffer;
  /** The origin of the target that answered. */
  readonly target: string;
  /** Tries made (1 without retries). */
  readonly attempts: number;
}

/** Why an internal request failed: a stable code, the upstream and target, the tries made. */
export class UpstreamRequestError extends BriskError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly upstream: string,
    readonly target: string | null,
    readonly attempts: number,
    /** True when the caller aborted it (its `signal`), not the upstream's fault. */
    readonly cancelled = false,
  ) {
    super(code, message);
  }
}

const DEFAULT_MAX_BODY = 1024 * 1024;

/**
 * Sends one request to `upstream` and resolves with the whole answer (any status: a 4xx
 * or 5xx is an answer, not an error). Rejects with an {@link UpstreamRequestError} when
 * there is no answer: breaker open, limits reached, no target, connection failures and
 * timeouts after the retries allowed, body too large, or aborted.
 */
export function upstreamRequest(upstream: Upstream, options: UpstreamRequestOptions): Promise<UpstreamResponse> {
  return new Promise((resolve, reject) => new UpstreamCall(upstream, options, resolve, reject).start());
}

class UpstreamCall {
  private readonly method: string;
  private readonly retry: RetryConfig;
  private readonly idempotent: boolean;
  private readonly maxBody: number;
  private readonly headers: string[];
  private readonly hostIndex: number;
  private deadlineIndex = -1;
  private attempts = 0;
  private retries = 0;
  private tried: Set<Target> | null = null;
  private current: Try | null = null;
  private settled = false;
  private breakerEpoch = -1;
  private holdsPermit = false;
  private retryPermits = 0;
  private deadline = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly onAbort = (): void => this.cancel();

  constructor(
    readonly upstream: Upstream,
    private readonly options: UpstreamRequestOptions,
    private readonly resolve: (r: UpstreamResponse) => void,
    private readonly reject: (e: UpstreamRequestError) => void,
  ) {
    this.method = options.method ?? 'GET';
    this.retry = upstream.config.retry;
    this.idempotent = IDEMPOTENT.has(this.method);
    this.maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
    const given = options.headers;
    this.headers = given === undefined ? [] : given.slice();
    this.hostIndex = this.headers.length + 1;
    this.headers.push('host', '');
    const deadlineHeader = options.deadlineHeader;
    if (typeof deadlineHeader === 'string' && options.timeoutMs > 0) {
      this.deadlineIndex = this.headers.length + 1;
      this.headers.push(deadlineHeader, '');
    }
  }

  start(): void {
    const upstream = this.upstream;
    const signal = this.options.signal;
    if (signal?.aborted === true) return this.fail('BRISK_INTERNAL', `request to upstream "${upstream.name}" cancelled`, null, true);
    const breaker = upstream.breaker;
    if (breaker !== null) {
      if (!breaker.allow(Date.now())) return this.fail('BRISK_CIRCUIT_OPEN', `upstream "${upstream.name}": circuit breaker open; failing fast`, null);
      this.breakerEpoch = breaker.epoch;
    }
    const limits = upstream.limits;
    if (limits !== null) {
      if (!limits.tryAcquireRequest()) {
        return this.fail('BRISK_UPSTREAM_OVERLOADED', `upstream "${upstream.name}" has ${limits.config.maxRequests} requests in flight (limits.maxRequests); refused at once`, null);
      }
      this.holdsPermit = true;
    }
    const target = upstream.pick(null, null);
    if (target === null) return this.fail('BRISK_NO_HEALTHY_TARGET', `upstream "${upstream.name}" has no target that can take the request`, null);
    upstream.budget.onRequest();
    const timeoutMs = this.options.timeoutMs;
    if (timeoutMs > 0) {
      this.deadline = Date.now() + timeoutMs;
      this.timer = setTimeout(() => this.onDeadline(timeoutMs), timeoutMs);
    }
    signal?.addEventListener('abort', this.onAbort, { once: true });
    this.launch(target);
  }

  private launch(target: Target): void {
    this.attempts++;
    if (this.attempts > 1) (this.tried ??= new Set()).add(target);
    else this.tried = null;
    const t = new Try(this, target);
    this.current = t;
    const headers = this.headers;
    const host = this.options.host;
    headers[this.hostIndex] = this.upstream.config.hostHeader === 'target' || host === undefined || host === '' ? target.hostHeader : host;
    if (this.deadlineIndex !== -1) headers[this.deadlineIndex] = String(Math.max(0, this.deadline - Date.now()));
    const body = this.options.body ?? null;
    const opts: Dispatcher.DispatchOptions = {
      path: target.basePath === '' ? this.options.path : target.basePath + this.options.path,
      method: this.method as Dispatcher.HttpMethod,
      headers,
      body,
    };
    const perTry = this.retry.perTryTimeoutMs;
    if (perTry > 0) t.startTimer(perTry);
    target.inFlight++;
    try {
      target.pool.dispatch(opts, t);
    } catch (err) {
      t.onError(err as Error);
    }
  }

  get isSettled(): boolean {
    return this.settled;
  }

  get maxBodyBytes(): number {
    return this.maxBody;
  }

  /** True when a response with this status should be retried (and a retry is possible). */
  wantsRetryOnStatus(status: number): boolean {
    return this.retry.statuses.includes(status) && this.canRetry('BRISK_UPSTREAM_BAD_RESPONSE', status);
  }

  private canRetry(code: ErrorCode, status: number): boolean {
    if (this.retries >= this.retry.attempts) return false;
    if (this.deadline !== 0 && Date.now() >= this.deadline) return false;
    const safe = this.idempotent || this.retry.unsafeMethods;
    if (status !== 0) {
      if (!safe) return false;
    } else {
      if (!RETRYABLE_ERRORS.has(code)) return false;
      if (!NOT_SENT.has(code) && !safe) return false;
    }
    return this.upstream.budget.canRetry();
  }

  /** A try failed (status 0: no answer; else a retryable status). Retries elsewhere, or fails. */
  onTryFailed(t: Try, code: ErrorCode, status: number, answer: (() => void) | null): void {
    if (this.settled || this.current !== t) return;
    if (this.canRetry(code, status)) {
      const exclude = this.tried ?? new Set([t.target]);
      exclude.add(t.target);
      this.tried = exclude;
      const target = this.upstream.pick(exclude, null);
      const limits = this.upstream.limits;
      if (target !== null && (limits === null || limits.tryAcquireRetry())) {
        if (limits !== null) this.retryPermits++;
        this.retries++;
        this.upstream.budget.onRetry();
        this.current = null;
        const backoff = this.backoffMs();
        if (backoff <= 0) this.launch(target);
        else setTimeout(() => !this.settled && this.launch(target), backoff);
        return;
      }
    }
    if (answer !== null) {
      answer();
      return;
    }
    this.fail(code, upstreamErrorMessage(code, this.upstream.name, t.target.origin), t.target.origin);
  }

  private backoffMs(): number {
    const { backoffBaseMs, backoffMaxMs } = this.retry;
    if (backoffBaseMs <= 0) return 0;
    const jittered = Math.random() * Math.min(backoffMaxMs, backoffBaseMs * 2 ** (this.retries - 1));
    return this.deadline === 0 ? jittered : Math.min(jittered, Math.max(0, this.deadline - Date.now()));
  }

  succeed(t: Try, status: number, headers: string[], body: Buffer): void {
    if (this.settled || this.current !== t) return;
    this.settle(status < 500 ? 1 : 0);
    this.resolve({ status, headers, body, target: t.target.origin, attempts: this.attempts });
  }

  fail(code: ErrorCode, message: string, target: string | null, cancelled = false): void {
    if (this.settled) return;
    // A body over the caller's limit, or a caller that gave up, says nothing about the upstream's health.
    this.settle(cancelled || code === 'BRISK_UPSTREAM_RESPONSE_TOO_LARGE' || code === 'BRISK_UPSTREAM_OVERLOADED' ? -1 : 0);
    this.reject(new UpstreamRequestError(code, message, this.upstream.name, target, this.attempts, cancelled));
  }

  private onDeadline(ms: number): void {
    this.timer = null;
    if (this.settled) return;
    const origin = this.current?.target.origin ?? null;
    this.current?.cancel();
    this.fail('BRISK_UPSTREAM_TOTAL_TIMEOUT', `upstream "${this.upstream.name}": no complete answer${origin === null ? '' : ` from ${origin}`} within ${ms}ms`, origin);
  }

  private cancel(): void {
    if (this.settled) return;
    const origin = this.current?.target.origin ?? null;
    this.current?.cancel();
    this.fail('BRISK_INTERNAL', `request to upstream "${this.upstream.name}" cancelled`, origin, true);
  }

  /** Gives back permits and tells the breaker: 1 success, 0 failure, -1 no verdict. */
  private settle(verdict: 1 | 0 | -1): void {
    this.settled = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.options.signal?.removeEventListener('abort', this.onAbort);
    const upstream = this.upstream;
    for (; this.retryPermits > 0; this.retryPermits--) upstream.limits?.releaseRetry();
    if (this.holdsPermit) {
      this.holdsPermit = false;
      upstream.limits?.releaseRequest();
    }
    if (this.breakerEpoch !== -1 && upstream.breaker !== null) {
      if (verdict === -1) upstream.breaker.release(this.breakerEpoch);
      else upstream.breaker.onResult(verdict === 1, Date.now(), this.breakerEpoch);
      this.breakerEpoch = -1;
    }
  }
}

/** One try on one target: the undici dispatch handler that collects the answer. */
class Try implements Dispatcher.DispatchHandler {
  private readonly started = performance.now();
  private abortDispatch: ((err?: Error) => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private cancelled = false;
  private finished = false;
  /** Given up for a retry: the rest of the answer is read and dropped (keeps the connection). */
  private discarding = false;
  private status = 0;
  private headers: string[] = [];
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(
    private readonly call: UpstreamCall,
    readonly target: Target,
  ) {}

  startTimer(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      // As in the proxy: look once more after this turn's socket reads before calling it late.
      setImmediate(() => {
        if (this.finished || this.cancelled || this.status !== 0) return;
        const err = Object.assign(new Error(`no response headers within ${ms}ms (retry.perTryTimeout)`), { code: 'UND_ERR_HEADERS_TIMEOUT' });
        if (this.abortDispatch !== null) this.abortDispatch(err);
        else this.onError(err);
      });
    }, ms);
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  cancel(): void {
    if (this.finished || this.cancelled) return;
    this.cancelled = true;
    this.clearTimer();
    this.abortDispatch?.(new BriskError('BRISK_INTERNAL', 'try cancelled'));
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortDispatch = abort;
    if (this.cancelled || this.call.isSettled) {
      this.cancelled = true;
      abort(new BriskError('BRISK_INTERNAL', 'try cancelled'));
    }
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], _resume: () => void): boolean {
    if (statusCode < 200) return true;
    this.clearTimer();
    if (this.cancelled || this.finished) return false;
    const latency = performance.now() - this.started;
    this.target.observeLatency(latency, Date.now());
    this.call.upstream.latency.record(latency);
    this.status = statusCode;
    if (this.call.isSettled) {
      this.cancel();
      return false;
    }
    const headers = this.headers;
    for (let i = 0; i < rawHeaders.length; i += 2) headers.push(rawHeaders[i]!.toString('latin1').toLowerCase(), rawHeaders[i + 1]!.toString('latin1'));
    if (this.call.wantsRetryOnStatus(statusCode)) {
      this.report(statusCode >= 500 ? Outcome.Http5xx : Outcome.Success);
      this.reported = true;
      this.discarding = true;
      // No retry possible after all: this answer is the one.
      this.call.onTryFailed(this, 'BRISK_UPSTREAM_BAD_RESPONSE', statusCode, () => (this.discarding = false));
    }
    return true;
  }

  private reported = false;

  onData(chunk: Buffer): boolean {
    if (this.discarding) return true;
    if (this.cancelled) return false;
    this.size += chunk.length;
    const max = this.call.maxBodyBytes;
    if (max > 0 && this.size > max) {
      const err = new BriskError('BRISK_UPSTREAM_RESPONSE_TOO_LARGE', `upstream "${this.call.upstream.name}": the response from ${this.target.origin} is larger than ${max} bytes`);
      if (this.abortDispatch !== null) this.abortDispatch(err);
      return false;
    }
    this.chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    if (this.finished) return;
    this.finished = true;
    this.clearTimer();
    this.target.requestEnded();
    if (this.cancelled || this.discarding) return;
    if (!this.reported) this.report(this.status >= 500 ? Outcome.Http5xx : Outcome.Success);
    const chunks = this.chunks;
    this.call.succeed(this, this.status, this.headers, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.size));
  }

  onError(err: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.clearTimer();
    this.target.requestEnded();
    if (this.cancelled || this.discarding || this.call.isSettled) return;
    const code = upstreamErrorCode(err);
    if (code === 'BRISK_UPSTREAM_RESPONSE_TOO_LARGE' || code === 'BRISK_INTERNAL' || code === 'BRISK_BAD_REQUEST') {
      this.call.fail(code, err.message, this.target.origin);
      return;
    }
    this.target.failures++;
    this.target.observeLatency(Math.max(performance.now() - this.started, GATEWAY_FAILURE_PENALTY_MS), Date.now());
    this.report(Outcome.GatewayFailure, (err as { code?: string }).code ?? err.message);
    this.call.onTryFailed(this, code, 0, null);
  }

  private report(outcome: Outcome, detail?: string): void {
    this.call.upstream.outlier.onResult(this.target, outcome, Date.now(), detail);
  }
}

import type { Dispatcher } from 'undici';
import type { ErrorCode } from '../../core/errors.js';
import type { Logger } from '../../observability/logger.js';
import { formatGrpcTimeout, grpcStatusIn } from '../../core/grpc.js';
import { fillHeaderSlot, formatTraceparent, newSpanId } from '../../observability/trace-context.js';
import { overloadMessage, type UpstreamLimits } from '../resilience/limits.js';
import { upstreamErrorCode, upstreamErrorMessage } from '../errors.js';
import { Outcome } from '../health/outlier.js';
import type { Target } from '../target.js';
import type { Upstream } from '../upstream.js';
import type { Admission } from './admission.js';
import { autoHedgeBaseMs, recordTargetHeadLatency } from './hedge-delay.js';
import { RetryRefusal, RetryState } from './retry-state.js';
import { UpstreamTry, type TryOwner } from './try.js';
import { Take, type CallPolicy, type CallRequest, type ResponseSink } from './types.js';

/**
 * While nothing has been measured for `hedge: auto`, a request looks at the estimate again
 * this often (one timer per waiting request per interval, only until the first answers
 * of an upstream have been counted).
 */
const UNMEASURED_RECHECK_MS = 100;

/**
 * One request to an upstream, from the first try to the answer (Envoy's router filter
 * with its `UpstreamRequest`s): it picks targets, sends tries, retries failures on other
 * targets within the policy and budget, races a hedge, enforces the per-try and total
 * timeouts, and hands the one answer that wins to its sink. Admission (breaker, limits)
 * is taken by the caller before and settled by the caller after, with the verdict it
 * alone can judge (a client that left, a substituted answer).
 *
 * @example
 * const call = new UpstreamCall(upstream, admission, request, policy, sink, logger);
 * if (call.start(firstTarget)) … // the sink hears the rest
 * // when the caller is done: call.cancel(); admission.settle(verdict)
 */
export class UpstreamCall implements TryOwner {
  /** Tries sent (the first, retries, hedges). */
  attempts = 0;
  hedged = false;
  /** The sink had the request sent again once (`retryVerdict` 'resend'). */
  private resent = false;
  /** `hedge: auto`: its hedges spend the retry budget, and a try that loses one is reported. */
  private auto = false;
  /** The delay of the `hedge: auto` hedge, as last estimated (0: none yet). */
  private autoHedge = 0;
  /** The try whose answer the caller got; set on its head. */
  winner: UpstreamTry | null = null;
  /** The target of the first try, and of the latest one. */
  first: Target | null = null;
  latest: Target | null = null;
  /** Every try, for their client spans (`policy.recordTries`); null otherwise. */
  readonly tries: UpstreamTry[] | null;
  ended = false;
  private readonly retry: RetryState;
  /** Tries still running (the first, retries, hedges). Usually one. */
  private readonly live: UpstreamTry[] = [];
  /** Targets tried so far, once there is more than one try. */
  private tried: Set<Target> | null = null;
  private deadline = 0;
  /** The try whose head the sink is looking at right now (not cancelled under its feet). */
  private showing: UpstreamTry | null = null;
  private totalTimer: NodeJS.Timeout | null = null;
  private hedgeTimer: NodeJS.Timeout | null = null;
  /** `performance.now()` when the first try was sent. */
  private startedAt = 0;

  constructor(
    readonly upstream: Upstream,
    readonly admission: Admission,
    private readonly request: CallRequest,
    private readonly policy: CallPolicy,
    private readonly sink: ResponseSink,
    private readonly logger: Logger | null,
    /** For log lines about this call. */
    private readonly requestId?: string,
  ) {
    this.retry = new RetryState(policy.retry, request.idempotent, upstream.budget);
    this.tries = policy.recordTries ? [] : null;
  }

  get retries(): number {
    return this.retry.retries;
  }

  /** The target whose answer won, else the first one tried. */
  get answeredBy(): Target | null {
    return this.winner?.target ?? this.first;
  }

  /**
   * Sends the first try to `target` and arms the deadline and hedge timers. False when the
   * call was refused at once (every connection to the target busy and no pending slot):
   * the sink has been told.
   */
  start(target: Target): boolean {
    const upstream = this.upstream;
    this.first = target;
    let pendingPermit: UpstreamLimits | null = null;
    const limits = upstream.limits;
    if (limits !== null && target.inFlight >= (target.pool.capacity ?? upstream.config.pool.connections)) {
      // Every connection to the target is busy: the request would wait in its pool.
      if (!limits.tryAcquirePending()) {
        this.ended = true;
        this.sink.onFail('BRISK_UPSTREAM_OVERLOADED', overloadMessage(upstream.name, 'pending', limits.config.maxPendingRequests), ['retry-after', limits.retryAfter]);
        return false;
      }
      pendingPermit = limits;
    }
    upstream.budget.onRequest();
    this.startedAt = performance.now();
    const totalMs = this.policy.totalMs;
    if (totalMs > 0) {
      this.deadline = Date.now() + totalMs;
      this.totalTimer = setTimeout(() => this.onDeadline(), totalMs);
    }
    this.launch(target, pendingPermit);
    const hedge = this.policy.hedge;
    if (hedge !== undefined && this.request.idempotent && (upstream.availableCount > 1 || upstream.panic)) {
      if (hedge.delay === 'auto') {
        this.auto = true;
        const delay = this.autoHedgeDelay(hedge.minDelayMs);
        // Nothing measured yet (a new upstream, the first second of a process): the request
        // looks again soon rather than never, or one sent to a target that froze in the
        // first second would wait for the response timeout.
        if (delay !== Infinity) this.rearmHedge(delay > 0 ? delay : UNMEASURED_RECHECK_MS);
      } else {
        this.rearmHedge(hedge.delay === 'p95' ? Math.max(hedge.minDelayMs, upstream.latency.p95()) : hedge.delay);
      }
    }
    return true;
  }

  /**
   * `hedge: auto`: twice the recent p99 time to a response head of the upstream's typical
   * target (hedge-delay.ts: a slow target's own answers must not lift it), at least
   * `minDelayMs`, so a hedge is considered only for a try that is far slower than nearly
   * all others — and then sent only when its target has stalled (`onHedgeTimer`). 0 while
   * nothing has been measured; Infinity (no hedge) when the delay would reach the response
   * timeout anyway.
   */
  private autoHedgeDelay(minDelayMs: number): number {
    const p99 = autoHedgeBaseMs(this.upstream);
    if (p99 === 0) return 0;
    const delay = Math.max(minDelayMs, 2 * p99);
    if (delay >= this.responseTimeoutMs) return Infinity;
    this.autoHedge = delay;
    return delay;
  }

  /**
   * Stops everything still running; the sink hears nothing more. A winner whose body is
   * being read and dropped (the caller answered in its place) is left to finish, which
   * keeps its connection reusable. Idempotent.
   */
  cancel(): void {
    if (this.ended) return;
    this.ended = true;
    this.clearTimers();
    for (const t of this.live) if (t !== this.showing && !t.discarding) t.cancel();
    this.live.length = 0;
  }

  /**
   * The answer is an open-ended stream (an event stream): once its head is sent, only the
   * idle timeout bounds it, not `timeouts.total`.
   */
  releaseDeadline(): void {
    if (this.totalTimer !== null) clearTimeout(this.totalTimer);
    this.totalTimer = null;
  }

  /** Starts one try on a target. */
  private launch(target: Target, pendingPermit: UpstreamLimits | null = null): void {
    this.attempts++;
    if (this.attempts > 1) {
      this.tried ??= new Set([this.first!]);
      this.tried.add(target);
    }
    const t = new UpstreamTry(this, target);
    t.grpc = this.request.grpc;
    this.latest = target;
    this.live.push(t);
    const upstream = this.upstream;
    // Retries and hedges were allowed by `maxRetries`; they take a pending slot when one is free.
    if (pendingPermit === null && upstream.limits !== null && target.inFlight >= (target.pool.capacity ?? upstream.config.pool.connections) && upstream.limits.tryAcquirePending()) {
      pendingPermit = upstream.limits;
    }
    t.pendingPermit = pendingPermit;
    const req = this.request;
    const headers = req.headers;
    // Slots are re-found by name when a middleware removed a header before them (fillHeaderSlot).
    if (req.hostSlot !== -1) req.hostSlot = fillHeaderSlot(headers, req.hostSlot, 'host', target.hostHeader);
    // Each try is its own span (child of the caller's span): retries and hedges are told apart.
    if (req.traceparentSlot !== -1) req.traceparentSlot = fillHeaderSlot(headers, req.traceparentSlot, 'traceparent', formatTraceparent(req.traceId!, (t.spanId = newSpanId()), req.sampled));
    if (req.deadlineSlot !== -1 && req.deadlineHeader !== false) req.deadlineSlot = fillHeaderSlot(headers, req.deadlineSlot, req.deadlineHeader, String(Math.max(0, this.deadline - Date.now())));
    if (req.grpcTimeoutSlot !== -1) req.grpcTimeoutSlot = fillHeaderSlot(headers, req.grpcTimeoutSlot, 'grpc-timeout', formatGrpcTimeout(this.deadline - Date.now()));
    if (this.tries !== null) this.tries.push(t);
    const options: Dispatcher.DispatchOptions = {
      path: target.basePath === '' ? req.pathAndQuery : target.basePath + req.pathAndQuery,
      method: req.method as Dispatcher.HttpMethod,
      headers,
      body: (req.body === null ? null : req.body.source()) as Dispatcher.DispatchOptions['body'],
    };
    const policy = this.policy;
    if (policy.retry.perTryTimeoutMs > 0) t.startTimer(policy.retry.perTryTimeoutMs);
    if (policy.headersTimeoutMs !== undefined) options.headersTimeout = policy.headersTimeoutMs;
    if (policy.bodyTimeoutMs !== undefined) options.bodyTimeout = policy.bodyTimeoutMs;
    target.inFlight++;
    try {
      target.pool.dispatch(options, t);
    } catch (err) {
      t.onError(err as Error);
    }
  }

  private onHedgeTimer(): void {
    this.hedgeTimer = null;
    if (this.ended || this.winner !== null || this.hedged) return;
    const body = this.request.body;
    if (body !== null && !body.replayable()) return;
    if (this.auto && !this.autoHedgeDue()) return;
    const target = this.upstream.pick(this.tried ?? new Set([this.first!]), this.request.hashKey);
    if (target === null || target === this.first || this.tried?.has(target) === true) return;
    // Automatic hedges come out of the retry budget: when everything is slow at once, they
    // must not double the load on an upstream that is already struggling. The budget
    // refills with time and traffic, so the request asks again after another delay.
    if (this.auto && !this.upstream.budget.canRetry()) return this.rearmHedge(this.autoHedge);
    if (!this.admission.tryAcquireRetry()) return;
    if (this.auto) this.upstream.budget.onRetry();
    this.hedged = true;
    this.launch(target);
  }

  /**
   * Whether an automatic hedge is due now; when not yet, the timer is armed for when it
   * may be. The delay is taken again from the latest estimate (it may have been unmeasured
   * when the request started). A hedge is for a target that has stalled: one that has
   * sent no response head for the whole delay while this request waited. A target that
   * keeps answering other requests is alive, and this request is merely slow (a report
   * among quick reads): sending it twice would only double expensive work — but a target
   * that answered a moment after this request went to it may have frozen just after, so it
   * is looked at again once it has been silent for the delay.
   */
  private autoHedgeDue(): boolean {
    const delay = this.autoHedgeDelay(this.policy.hedge!.minDelayMs);
    if (delay === Infinity) return false;
    const now = performance.now();
    if (delay === 0) {
      if (now - this.startedAt + UNMEASURED_RECHECK_MS < this.responseTimeoutMs) this.rearmHedge(UNMEASURED_RECHECK_MS);
      return false;
    }
    const silentSince = Math.max(this.startedAt, this.first!.lastHeadAt);
    if (now - silentSince >= delay) return true;
    this.rearmHedge(silentSince + delay - now);
    return false;
  }

  /** How long a try waits for its response head (a hedge later than that is pointless). */
  private get responseTimeoutMs(): number {
    return this.policy.headersTimeoutMs ?? this.upstream.config.timeouts.responseMs;
  }

  private rearmHedge(delayMs: number): void {
    this.hedgeTimer = setTimeout(() => this.onHedgeTimer(), Math.max(1, delayMs));
  }

  private onDeadline(): void {
    this.totalTimer = null;
    if (this.ended) return;
    const winner = this.winner;
    const origin = (winner?.target ?? this.latest)?.origin ?? '';
    this.cancel();
    if (winner !== null) this.sink.onCut('BRISK_UPSTREAM_TOTAL_TIMEOUT');
    else this.sink.onFail('BRISK_UPSTREAM_TOTAL_TIMEOUT', upstreamErrorMessage('BRISK_UPSTREAM_TOTAL_TIMEOUT', this.upstream.name, origin));
  }

  private clearTimers(): void {
    if (this.totalTimer !== null) clearTimeout(this.totalTimer);
    if (this.hedgeTimer !== null) clearTimeout(this.hedgeTimer);
    this.totalTimer = null;
    this.hedgeTimer = null;
  }

  // ---- what the tries report ------------------------------------------------------

  observeHeadLatency(t: UpstreamTry, ms: number): void {
    t.target.observeLatency(ms, Date.now());
    this.upstream.latency.record(ms);
    recordTargetHeadLatency(t.target, ms);
  }

  report(t: UpstreamTry, outcome: Outcome, detail?: string): void {
    this.upstream.outlier.onResult(t.target, outcome, Date.now(), detail);
  }

  onTryInterim(t: UpstreamTry, status: number, rawHeaders: Buffer[]): void {
    if (this.ended || this.winner !== null) return;
    // Only the first try's interim answers are passed on: a hedge's would repeat them.
    if (t.target === this.first && this.attempts === 1) this.sink.onInterim?.(status, rawHeaders);
  }

  onTryHead(t: UpstreamTry, status: number, rawHeaders: Buffer[], statusText: string): boolean {
    if (this.ended || (this.winner !== null && this.winner !== t)) {
      t.cancel();
      return false;
    }
    const verdict = this.winner === null && this.sink.retryVerdict !== undefined ? this.sink.retryVerdict(status, rawHeaders) : null;
    if (verdict === 'resend' && this.resend(t)) {
      t.discarding = true;
      t.report(t.outcome());
      return true;
    }
    const retryable = this.retry.retriesStatus(status) || (this.request.grpc && this.retry.retriesGrpcStatus(grpcStatusIn(rawHeaders)));
    if (this.winner === null && verdict !== 'deliver' && retryable && this.mayRetry('BRISK_UPSTREAM_BAD_RESPONSE', status)) {
      // Hold the answer: if no retry can be made after all, this is what the caller gets.
      t.held = { status, headers: rawHeaders, text: statusText };
      t.report(t.outcome());
      this.onTryFailed(t, 'BRISK_UPSTREAM_BAD_RESPONSE', status);
      // Delivered after all, or given up for a retry: then its body is read and dropped,
      // which keeps the connection reusable.
      if (t.held !== null) t.discarding = true;
      return true;
    }
    return this.deliver(t, status, rawHeaders, statusText);
  }

  /**
   * Sends the request once more to the target that just answered, because the sink asked:
   * not a retry (the try worked, its answer is of no use), so outside the retry policy,
   * and only once. False when that is not possible (done once already, body not replayable).
   */
  private resend(t: UpstreamTry): boolean {
    const body = this.request.body;
    if (this.resent || this.ended || (body !== null && !body.replayable())) return false;
    this.resent = true;
    for (const other of this.live) if (other !== t) other.cancel();
    this.live.length = 0;
    this.launch(t.target);
    return true;
  }

  /** Commits the call to `t`'s answer and shows it to the sink. */
  private deliver(t: UpstreamTry, status: number, rawHeaders: Buffer[], statusText: string): boolean {
    this.commit(t);
    this.showing = t;
    const take = this.sink.onHead(status, rawHeaders, statusText);
    this.showing = null;
    if (take === Take.Stream) return true;
    if (take === Take.Abort) {
      t.cancel();
      return false;
    }
    t.discarding = true;
    if (!t.reported) t.report(t.outcome());
    return true;
  }

  /** The try that answers first wins; the others are cancelled. */
  private commit(t: UpstreamTry): void {
    this.winner = t;
    if (this.hedgeTimer !== null) {
      clearTimeout(this.hedgeTimer);
      this.hedgeTimer = null;
    }
    for (const other of this.live) {
      if (other === t) continue;
      // An automatic hedge won against a try that got no answer in twice the p99: that
      // target is stalling (frozen, or much slower than its siblings). Outlier detection
      // hears it as a failure, and the balancer its time so far as a latency sample.
      if (this.autoHedge > 0 && other.status === 0 && other.started < t.started) other.stalled(this.autoHedge);
      other.cancel();
    }
    this.live.length = 0;
    this.live.push(t);
  }

  onTryData(t: UpstreamTry, chunk: Buffer): boolean {
    if (this.ended || this.winner !== t) return false;
    return this.sink.onData(chunk, t.resume);
  }

  onTryComplete(t: UpstreamTry, trailers: Buffer[] | null): void {
    if (this.ended || this.winner !== t) return;
    this.ended = true;
    this.clearTimers();
    this.live.length = 0;
    this.sink.onComplete(trailers);
  }

  onTryError(t: UpstreamTry, err: Error): void {
    if (this.ended) return;
    if (this.request.body?.tooLarge === true) {
      this.end();
      this.sink.onFail('BRISK_BODY_TOO_LARGE', '');
      return;
    }
    const code = upstreamErrorCode(err);
    t.errorType = code;
    if (code === 'BRISK_BAD_REQUEST' || code === 'BRISK_INTERNAL') {
      // The request itself could not be sent as it is: not the target's fault, not retried.
      if (code === 'BRISK_INTERNAL') this.logger?.error({ err, requestId: this.requestId }, 'proxy error');
      const winner = this.winner === t;
      this.end();
      if (winner) this.sink.onCut(code);
      else this.sink.onFail(code, upstreamErrorMessage(code, this.upstream.name, t.target.origin));
      return;
    }
    // The client's message stays short; why the handshake failed (which certificate, which name) is for the operator.
    if (code === 'BRISK_UPSTREAM_TLS_FAILED') this.logger?.warn({ upstream: this.upstream.name, target: t.target.origin, reason: err.message, requestId: this.requestId }, 'TLS handshake with the target failed');
    t.blame(err);
    if (this.winner === t) {
      this.end();
      this.sink.onCut(code);
    } else this.onTryFailed(t, code, 0);
  }

  /**
   * A try failed before the caller got anything (or answered a retryable status). Retries
   * on another target when that is safe and allowed; otherwise, if no other try is
   * running, the caller gets the held answer or the error.
   */
  private onTryFailed(t: UpstreamTry, code: ErrorCode, status: number): void {
    const i = this.live.indexOf(t);
    if (i !== -1) this.live.splice(i, 1);
    if (this.ended || this.winner !== null) return;
    if (this.live.length > 0) return; // a hedge is still running; it may yet answer
    if (this.mayRetry(code, status)) {
      const target = this.upstream.pick(this.tried ?? new Set([t.target]), this.request.hashKey);
      if (target !== null && this.admission.tryAcquireRetry()) {
        this.retry.onRetry();
        const backoff = this.retry.backoffMs(this.deadline);
        if (backoff <= 0) this.launch(target);
        else
          setTimeout(() => {
            if (!this.ended && this.winner === null) this.launch(target);
          }, backoff);
        return;
      }
    }
    const held = t.held;
    if (held !== null) {
      // Retries are exhausted on a retryable status: the caller gets the last answer. The
      // try kept its response open for exactly this case.
      t.held = null;
      t.discarding = false;
      this.deliver(t, held.status, held.headers, held.text);
      return;
    }
    this.end();
    this.sink.onFail(code, upstreamErrorMessage(code, this.upstream.name, t.target.origin));
  }

  private mayRetry(code: ErrorCode, status: number): boolean {
    const body = this.request.body;
    const allowed = this.retry.allows(code, status, this.deadline, body === null || (!body.tooLarge && body.replayable()));
    if (!allowed && this.logger !== null) {
      if (this.retry.refusal === RetryRefusal.BodyNotReplayable) this.logger.info({ requestId: this.requestId, upstream: this.upstream.name }, 'not retried: the request body was larger than retry.maxBufferedBody');
      else if (this.retry.refusal === RetryRefusal.BudgetSpent) this.logger.debug({ upstream: this.upstream.name }, 'not retried: retry budget exhausted');
    }
    return allowed;
  }

  /** Ends the call from inside (an answer or error is about to reach the sink). */
  private end(): void {
    this.ended = true;
    this.clearTimers();
    for (const other of this.live) other.cancel();
    this.live.length = 0;
  }
}

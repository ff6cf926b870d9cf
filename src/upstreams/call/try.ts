import type { Dispatcher } from 'undici';
import { BriskError } from '../../core/errors.js';
import { grpcStatusIn, isGrpcServerFailure } from '../../core/grpc.js';
import type { TryRecord } from '../../core/exchange-record.js';
import { GATEWAY_FAILURE_PENALTY_MS } from '../errors.js';
import { Outcome } from '../health/outlier.js';
import type { UpstreamLimits } from '../resilience/limits.js';
import type { Target } from '../target.js';

/** What a try reports to the call that sent it. */
export interface TryOwner {
  /** The call has ended: whatever a try still does is not news. */
  readonly ended: boolean;
  onTryHead(t: UpstreamTry, status: number, rawHeaders: Buffer[], statusText: string): boolean;
  onTryInterim(t: UpstreamTry, status: number, rawHeaders: Buffer[]): void;
  onTryData(t: UpstreamTry, chunk: Buffer): boolean;
  onTryComplete(t: UpstreamTry, trailers: Buffer[] | null): void;
  onTryError(t: UpstreamTry, err: Error): void;
  /** Outlier detection's input. */
  report(t: UpstreamTry, outcome: Outcome, detail?: string): void;
  /** The time to the response head, for latency-aware balancing and hedging. */
  observeHeadLatency(t: UpstreamTry, ms: number): void;
}

/**
 * One try of a request on one target: the handler undici drives. Undici's callback-style
 * handler is used (not its `request()` API) because it hands over raw headers and body
 * chunks with no stream or header object in between. It keeps the target's books (in
 * flight, completed, failures, latency, outlier outcomes) and leaves every decision —
 * commit, retry, hedge, answer — to its call.
 */
export class UpstreamTry implements Dispatcher.DispatchHandler, TryRecord {
  readonly started = performance.now();
  /** Trace context: this try's span id ('' when not propagating), when it ended, and why it failed. */
  spanId = '';
  endedAt = 0;
  errorType: string | null = null;
  /** The target's status (0: none yet). */
  status = 0;
  /** A gRPC call: its `grpc-status` (head or trailers) decides the outcome too. */
  grpc = false;
  /** The target's `grpc-status` (-1: none yet, or not gRPC). */
  grpcStatus = -1;
  /** The upstream limits whose pending slot this try holds until it gets a connection. */
  pendingPermit: UpstreamLimits | null = null;
  /** A retryable answer held back while a retry is tried; delivered if none can be made. */
  held: { readonly status: number; readonly headers: Buffer[]; readonly text: string } | null = null;
  /** Resumes a paused body (undici's, given with the head). */
  resume: () => void = noop;
  /** Given up for a retry, or answered in its place: the rest of its body is read and dropped (keeps the connection). */
  discarding = false;
  /** Its outcome has been told to outlier detection already. */
  reported = false;
  private abortDispatch: ((err?: Error) => void) | null = null;
  /** Ended from our side (lost a race, retried, caller gone): what follows is not news. */
  private cancelled = false;
  private finished = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly owner: TryOwner,
    readonly target: Target,
  ) {}

  get isFinished(): boolean {
    return this.finished;
  }

  /** Gives this try `ms` to produce response headers (`retry.perTryTimeout`). */
  startTimer(ms: number): void {
    // undici's own timers tick at about one second, too coarse for a per-try timeout that
    // must fail over in a few hundred milliseconds: a native timer per try does it.
    this.timer = setTimeout(() => {
      this.timer = null;
      // Timers run before the event loop reads sockets: when the loop is late, the answer
      // may already be waiting unread. Look again after this turn's reads (setImmediate
      // runs after the poll phase) before calling it a timeout.
      setImmediate(() => this.onPerTryTimeout(ms));
    }, ms);
  }

  private onPerTryTimeout(ms: number): void {
    if (this.finished || this.cancelled || this.status !== 0) return;
    this.abort(Object.assign(new Error(`no response headers within ${ms}ms (retry.perTryTimeout)`), { code: 'UND_ERR_HEADERS_TIMEOUT' }));
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /** Stops this try; nothing it does afterwards reaches the call. */
  cancel(): void {
    if (this.finished || this.cancelled) return;
    this.cancelled = true;
    this.errorType ??= 'cancelled';
    this.clearTimer();
    this.abortDispatch?.(new BriskError('BRISK_INTERNAL', 'try cancelled'));
  }

  /** Ends the try with `err` (handled as if undici had failed it). */
  abort(err: Error): void {
    if (this.abortDispatch !== null) this.abortDispatch(err);
    else this.onError(err);
  }

  onConnect(abort: (err?: Error) => void): void {
    // Undici calls this when the request is put on a connection: it waits no more.
    this.releasePending();
    this.abortDispatch = abort;
    if (this.cancelled || this.finished || this.owner.ended) {
      this.cancelled = true;
      abort(new BriskError('BRISK_INTERNAL', 'try cancelled'));
    }
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) {
      if (!this.cancelled && !this.finished) this.owner.onTryInterim(this, statusCode, rawHeaders);
      return true;
    }
    this.clearTimer();
    if (this.cancelled || this.finished) return false;
    const now = performance.now();
    this.target.lastHeadAt = now;
    this.owner.observeHeadLatency(this, now - this.started);
    this.status = statusCode;
    if (this.grpc) this.grpcStatus = grpcStatusIn(rawHeaders);
    this.resume = resume;
    return this.owner.onTryHead(this, statusCode, rawHeaders, statusText);
  }

  onData(chunk: Buffer): boolean {
    if (this.discarding) return true;
    if (this.cancelled) return false;
    return this.owner.onTryData(this, chunk);
  }

  onComplete(trailers: string[] | Buffer[] | null): void {
    if (!this.end()) return;
    if (this.discarding || this.cancelled) return;
    if (this.grpc && trailers !== null && trailers.length > 0) this.grpcStatus = grpcStatusIn(trailers as Buffer[]);
    if (!this.reported) this.report(this.outcome());
    this.owner.onTryComplete(this, trailers as Buffer[] | null);
  }

  onError(err: Error): void {
    if (!this.end()) return;
    if (this.discarding || this.cancelled) return;
    this.owner.onTryError(this, err);
  }

  /** How the answer went for outlier detection: a 5xx, or a gRPC status that says the server failed, is a failure. */
  outcome(): Outcome {
    return this.status >= 500 || isGrpcServerFailure(this.grpcStatus) ? Outcome.Http5xx : Outcome.Success;
  }

  /**
   * Counts a failure the target is to blame for. A refused connection fails in
   * microseconds: without the latency penalty the latency-aware balancer would take the
   * dead target for the fastest one.
   */
  blame(err: Error): void {
    this.target.failures++;
    this.target.observeLatency(Math.max(performance.now() - this.started, GATEWAY_FAILURE_PENALTY_MS), Date.now());
    this.report(Outcome.GatewayFailure, (err as { code?: string }).code ?? err.message);
  }

  /**
   * This try got no answer while a hedge to another target answered after `delayMs`: the
   * target is blamed like one that failed at the transport level, and its time so far
   * counts as a latency sample, so the balancer avoids it at once.
   */
  stalled(delayMs: number): void {
    if (this.reported || this.finished) return;
    this.target.observeLatency(performance.now() - this.started, Date.now());
    this.report(Outcome.GatewayFailure, `no answer in ${Math.round(delayMs)}ms while a hedge to another target answered`);
  }

  /** Tells outlier detection how the try went (once). */
  report(outcome: Outcome, detail?: string): void {
    this.reported = true;
    this.owner.report(this, outcome, detail);
  }

  private releasePending(): void {
    if (this.pendingPermit !== null) {
      this.pendingPermit.releasePending();
      this.pendingPermit = null;
    }
  }

  /** Closes the target's books for this try; false when it had ended already. */
  private end(): boolean {
    if (this.finished) return false;
    this.finished = true;
    this.releasePending();
    this.endedAt = performance.now();
    this.clearTimer();
    this.target.requestEnded();
    return true;
  }
}

function noop(): void {}

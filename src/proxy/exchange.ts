import type { ErrorCode } from '../core/errors.js';
import { isGrpcServerFailure } from '../core/grpc.js';
import type { ExchangeRecord, TryRecord } from '../core/exchange-record.js';
import type { Answer, ResponseObserver, RetryVerdict, TerminalContext } from '../core/middleware.js';
import { Admission, Admit } from '../upstreams/call/admission.js';
import { UpstreamCall } from '../upstreams/call/call.js';
import { Take, type CallRequest, type ResponseSink } from '../upstreams/call/types.js';
import { IDEMPOTENT, upstreamErrorMessage } from '../upstreams/errors.js';
import type { Target } from '../upstreams/target.js';
import { AnsweringExchange } from './answering.js';
import { BodyReplay } from './body-replay.js';
import { Base64Decoder, GrpcWeb } from './grpc-web.js';
import { spawnDetachedCall } from './detached.js';
import type { Runtime } from './runtime.js';

/**
 * One request's journey, from the client's side: the context the pipeline reads, the
 * admission to its upstream, the `UpstreamCall` that tries targets (retries, hedges,
 * timeouts: `src/upstreams/call/`), and the one answer the client gets. It is the call's
 * sink: a target's answer is streamed to the client as it arrives, and once response bytes
 * have reached the client the exchange is committed to it.
 */
export class Exchange extends AnsweringExchange implements ExchangeRecord, TerminalContext, ResponseSink {
  /** The tries, once forwarding started. */
  private call: UpstreamCall | null = null;
  private admission: Admission | null = null;
  private body: BodyReplay | null = null;
  private done = false;
  private watchingClient = false;

  /** The config version this request runs on (for the watchers). */
  get runtime(): Runtime {
    return this.rt;
  }

  get isDone(): boolean {
    return this.done;
  }

  // ---- the record the watchers read (metrics, access log, traces) -------------------

  get answeredBy(): Target | null {
    return this.call?.answeredBy ?? this.target;
  }

  get attempts(): number {
    return this.call?.attempts ?? 0;
  }

  get retries(): number {
    return this.call?.retries ?? 0;
  }

  get hedged(): boolean {
    return this.call?.hedged ?? false;
  }

  get tries(): readonly TryRecord[] | null {
    return this.call?.tries ?? null;
  }

  // ---- forwarding ---------------------------------------------------------------------

  /**
   * Upstream admission, fail-fast: an open circuit breaker sends the request to the route's
   * fallback (or refuses it), and an upstream at its `limits` refuses it at once. Returns
   * false when the request was answered here.
   */
  admit(): boolean {
    let upstream = this.upstream!;
    let admission = new Admission(upstream);
    const now = Date.now();
    let admitted = admission.admit(now);
    if (admitted === Admit.BreakerOpen) {
      const fallback = this.route!.config.fallback;
      if (fallback?.kind === 'static') {
        this.answer({ status: fallback.status, headers: ['content-type', fallback.contentType, 'x-brisk-fallback', 'circuit-open'], body: fallback.body });
        return false;
      }
      const alternative = fallback?.kind === 'upstream' ? this.rt.upstreams.get(fallback.upstream) : undefined;
      if (alternative === undefined) {
        const retryAfter = Math.ceil(upstream.breaker!.retryAfterMs(now) / 1000);
        this.refuse('BRISK_CIRCUIT_OPEN', `upstream "${upstream.name}": circuit breaker open; failing fast`, ['retry-after', String(retryAfter)]);
        return false;
      }
      this.upstream = upstream = alternative;
      admission = new Admission(alternative);
      admitted = admission.admit(now);
      if (admitted === Admit.BreakerOpen) {
        this.refuse('BRISK_CIRCUIT_OPEN', `upstream "${upstream.name}" (fallback): circuit breaker open; failing fast`, ['retry-after', '1']);
        return false;
      }
    }
    if (admitted === Admit.Overloaded) {
      const limits = upstream.limits!;
      this.refuse('BRISK_UPSTREAM_OVERLOADED', `upstream "${upstream.name}" has ${limits.config.maxRequests} requests in flight (limits.maxRequests); refused at once`, [
        'retry-after',
        String(limits.config.retryAfterS),
      ]);
      return false;
    }
    this.admission = admission;
    return true;
  }

  /** Sends the planned request to `this.target`: the first try, then whatever the call decides. */
  start(): void {
    const route = this.route!;
    const upstream = this.upstream!;
    const retry = route.config.retry ?? upstream.config.retry;
    const hedge = route.config.hedge === undefined ? upstream.config.hedge : route.config.hedge;
    const timeouts = route.config.timeouts ?? upstream.config.timeouts;
    const routeTimeouts = route.config.timeouts;
    this.watchClient();
    if (this.chunked || this.contentLength > 0) {
      const maxBody = route.config.maxBodySize;
      // Bodies are kept for a replay only when a retry could use them.
      const keep = retry.attempts > 0 || hedge !== null ? retry.maxBufferedBody : 0;
      // A gRPC-Web text body is base64: the service gets it decoded.
      const source = this.grpcWeb === GrpcWeb.Text ? this.req.pipe(new Base64Decoder()) : this.req;
      this.body = new BodyReplay(source, keep, maxBody > 0 && this.contentLength === -1 ? maxBody : 0);
    }
    const deadlineHeader = this.rt.config.proxy.deadlineHeader;
    const request: CallRequest = {
      method: this.req.method!,
      pathAndQuery: this.pathAndQuery,
      headers: this.headers,
      hostSlot: upstream.config.hostHeader === 'target' ? this.hostIndex : -1,
      deadlineSlot: deadlineHeader === false ? -1 : this.deadlineIndex,
      deadlineHeader,
      grpcTimeoutSlot: this.grpcTimeoutIndex,
      grpc: this.grpc,
      traceparentSlot: this.traceparentIndex,
      traceId: this.traceId,
      sampled: this.sampled,
      body: this.body,
      idempotent: IDEMPOTENT.has(this.req.method!) || this.hasIdempotencyKey || route.config.idempotent === true,
      hashKey: this.hashKey,
    };
    // A gRPC client's deadline bounds the call too (the shorter of the two wins).
    const grpcMs = this.grpcTimeoutMs;
    const totalMs = grpcMs < 0 ? timeouts.totalMs : timeouts.totalMs > 0 ? Math.min(timeouts.totalMs, Math.max(1, grpcMs)) : Math.max(1, grpcMs);
    const policy = {
      retry,
      hedge: hedge ?? undefined,
      totalMs,
      headersTimeoutMs: routeTimeouts?.responseMs,
      bodyTimeoutMs: routeTimeouts?.idleMs,
      recordTries: this.sampled && this.state.tracer != null,
    };
    this.call = new UpstreamCall(upstream, this.admission!, request, policy, this, this.state.logger, this.requestId);
    this.call.start(this.target!);
  }

  // ---- the call's sink ----------------------------------------------------------------

  onHead(status: number, rawHeaders: Buffer[], statusText: string): Take {
    if (this.done) return Take.Abort;
    const observer = this.observer;
    if (observer !== null) {
      // The observer (the route cache) may answer instead: a 304 that completes a stored
      // response, a 5xx replaced by a stale copy. The target's body is then dropped.
      const a = observer.onHead(status, statusText, rawHeaders);
      if (a !== null) {
        this.breakerStatus = status;
        this.answer(a);
        return Take.Discard;
      }
    }
    if (!this.writeUpstreamHead(status, rawHeaders, statusText)) {
      this.fail('BRISK_UPSTREAM_BAD_RESPONSE', upstreamErrorMessage('BRISK_UPSTREAM_BAD_RESPONSE', this.upstream!.name, this.call?.answeredBy?.origin ?? ''));
      return Take.Abort;
    }
    // An event stream is open-ended by design: once it has started, only the idle timeout bounds it.
    if (this.call !== null && isEventStream(rawHeaders)) this.call.releaseDeadline();
    return Take.Stream;
  }

  retryVerdict(status: number, rawHeaders: Buffer[]): RetryVerdict {
    return this.observer?.retryVerdict?.(status, rawHeaders) ?? null;
  }

  onData(chunk: Buffer, resume: () => void): boolean {
    return this.writeData(chunk, resume);
  }

  onComplete(trailers: Buffer[] | null): void {
    if (this.done) return;
    // Finished once the client has the whole body (an encoder may still be sending its end).
    this.endBody(trailers, () => this.finish());
  }

  onInterim(status: number, rawHeaders: Buffer[]): void {
    if (!this.done) this.writeInterim(status, rawHeaders);
  }

  onFail(code: ErrorCode, message: string, headers?: readonly string[]): void {
    if (code === 'BRISK_UPSTREAM_OVERLOADED') this.refuse(code, message, headers);
    else this.fail(code, message);
  }

  /** The winning try broke after response bytes were sent: the only honest signal left is a cut. */
  onCut(code: ErrorCode): void {
    if (this.done) return;
    this.errorCode = code;
    // A gRPC stream cut between two messages still gets an honest ending: its status in trailers.
    if (!this.endGrpcStream(code, upstreamErrorMessage(code, this.upstream!.name, this.call?.answeredBy?.origin ?? ''))) this.res.destroy();
    this.finish();
  }

  // ---- answers ------------------------------------------------------------------------

  /** Answers as a middleware (or the route's terminal step) decided, instead of forwarding. */
  answer(a: Answer): void {
    if (this.done) return;
    if (a.code !== undefined) {
      this.refuse(a.code, a.message ?? '', a.headers, a.status);
      return;
    }
    this.writeAnswer(a, () => this.finish());
  }

  /** Answers with a Brisk error (nothing, or nothing usable, came from a target). */
  fail(code: ErrorCode, message: string): void {
    if (this.done) return;
    if (code === 'BRISK_BODY_TOO_LARGE' || this.body?.tooLarge === true) {
      code = 'BRISK_BODY_TOO_LARGE';
      message = `the request body exceeds the ${this.route?.config.maxBodySize ?? 0}-byte limit of route "${this.route?.name ?? ''}"`;
    }
    this.call?.cancel();
    this.refuse(code, message);
  }

  /** Answers with a Brisk error and ends the request. */
  private refuse(code: ErrorCode, message: string, headers?: readonly string[], status?: number): void {
    if (this.done) return;
    this.errorCode = code;
    this.respondError(code, message, headers, status);
    this.finish();
  }

  // ---- the client ---------------------------------------------------------------------

  /** Ends the request (499) when the client goes away; from the pipeline on, or from `start`. */
  watchClient(): void {
    if (this.watchingClient) return;
    this.watchingClient = true;
    // One listener function for every exchange, the exchange found on the response: no
    // closure and no once-wrapper per request ('close' is emitted once anyway).
    (this.res as unknown as ExchangeOwned)[kExchange] = this;
    this.res.on('close', onResponseClose);
  }

  /** @internal The client's response closed (it left, or the answer was sent). */
  onClientClose(): void {
    if (this.done) return;
    this.status = 499;
    this.call?.cancel();
    this.finish();
  }

  /**
   * A copy of this request with other headers, sent through the same admission and call
   * with nobody waiting: its response goes to the observer only (a cache's background
   * refresh).
   */
  override spawnDetached(headers: string[], observer: ResponseObserver): boolean {
    const upstream = this.rt.upstreamOfRoute[this.route!.config.index];
    if (upstream === undefined) return false;
    return spawnDetachedCall(upstream, this.route!, this.req.method!, this.pathAndQuery, headers, this.hostIndex, this.hashKey, this.rt.config.proxy.deadlineHeader, this.deadlineIndex, observer, this.state.logger);
  }

  /** The request has ended: give back what it held, tell the watchers. */
  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.call?.cancel();
    if (this.admission !== null) {
      // A client that left says nothing about the upstream; an observer's substitute is judged by the target's status.
      const status = this.breakerStatus !== 0 ? this.breakerStatus : this.status;
      // A gRPC failure status from the service (UNAVAILABLE, INTERNAL, …) arrives with HTTP 200: it counts as a 5xx.
      this.admission.settle(status === 499 ? -1 : status < 500 && !(this.grpc && isGrpcServerFailure(this.grpcStatus)) ? 1 : 0);
    }
    const observer = this.observer;
    if (observer !== null) {
      this.observer = null;
      observer.onEnd(this.bodyComplete);
    }
    if (this.finishHooks !== null) this.runFinishHooks(this.status);
    const state = this.state;
    if (state.metrics != null) state.metrics.record(this);
    const log = state.accessLog;
    if (log !== null) {
      const req = this.req;
      log.write(
        this.requestId,
        req.method,
        req.url,
        this.route?.name,
        this.upstream?.name,
        this.answeredBy?.origin,
        this.status,
        Math.round((performance.now() - this.started) * 1000) / 1000,
        this.bytesOut,
        req.socket?.remoteAddress,
        this.attempts,
        this.hedged,
        this.errorCode,
        this.traceId,
      );
    }
    if (this.sampled && state.tracer != null) state.tracer.recordExchange(this);
  }
}

const kExchange = Symbol('brisk.exchange');
type ExchangeOwned = { [kExchange]: Exchange };

function onResponseClose(this: ExchangeOwned): void {
  this[kExchange].onClientClose();
}

/**
 * True when the answer's content type is `text/event-stream`. Compared on the raw bytes
 * (ASCII case folded with `| 0x20`): it runs on every answer, and most have no such type.
 */
function isEventStream(rawHeaders: Buffer[]): boolean {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 12 && (name[0]! | 0x20) === 0x63 /* c */ && name.toString('latin1').toLowerCase() === 'content-type') {
      const value = rawHeaders[i + 1]!;
      let at = 0;
      while (at < value.length && (value[at] === 0x20 || value[at] === 0x09)) at++;
      if (value.length - at < EVENT_STREAM.length) return false;
      for (let j = 0; j < EVENT_STREAM.length; j++) {
        const b = value[at + j]!;
        // Letters fold to lower case; '/' and '-' must match as they are.
        if ((b >= 0x41 && b <= 0x5a ? b | 0x20 : b) !== EVENT_STREAM[j]) return false;
      }
      return true;
    }
  }
  return false;
}

const EVENT_STREAM = Buffer.from('text/event-stream', 'latin1');

import type { ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';
import type { Dispatcher } from 'undici';
import { BriskError, ERROR_CODES, errorBody, type ErrorCode } from '../core/errors.js';
import type { ClientRequest, ClientResponse } from '../core/http.js';
import type { ExchangeRecord, TryRecord } from '../core/exchange-record.js';
import type { Answer, ResponseObserver, TerminalContext } from '../core/middleware.js';
import type { RetryConfig } from '../config/types.js';
import type { Runtime } from './runtime.js';
import { fillHeaderSlot, formatTraceparent, newSpanId } from '../observability/trace-context.js';
import { Outcome } from '../upstreams/health/outlier.js';
import { overloadMessage, type UpstreamLimits } from '../upstreams/resilience/limits.js';
import type { Target } from '../upstreams/target.js';
import { BodyReplay } from './body-replay.js';
import { closeConnectionAfter, ForwardPlan, type ProxyState } from './context.js';
import { connectionListedNames, isResponseHopByHop, removeNamed } from '../core/hop-by-hop.js';
import { GATEWAY_FAILURE_PENALTY_MS, IDEMPOTENT, NOT_SENT, RETRYABLE_ERRORS, upstreamErrorCode, upstreamErrorMessage } from '../upstreams/errors.js';

/**
 * One request's journey, from the client's side: the context the pipeline reads, the
 * tries sent to targets (`Attempt`), and the one answer the client gets. A try may be
 * retried on another target, or raced by a hedge, only until response bytes reach the
 * client; after that the exchange is committed to the try that won.
 */
export class Exchange extends ForwardPlan implements ExchangeRecord, TerminalContext {
  readonly started = performance.now();
  status = 0;
  bytesOut = 0;
  errorCode: ErrorCode | null = null;
  /** The try whose response the client gets; set on its response headers. */
  winner: Attempt | null = null;
  /** Tries still running (the first, retries, hedges). Usually one. */
  private readonly live: Attempt[] = [];
  /** Targets tried so far, once there is more than one try. */
  private tried: Set<Target> | null = null;
  /** Tries sent, retries among them, and whether a hedge was sent (read by the watchers). */
  attempts = 0;
  retries = 0;
  hedged = false;
  private done = false;
  private clientGone = false;
  private deadline = 0;
  private totalTimer: NodeJS.Timeout | null = null;
  private hedgeTimer: NodeJS.Timeout | null = null;
  private body: BodyReplay | null = null;
  /** Set when a body of unknown length went past the route's limit. */
  bodyTooLarge = false;
  private retry!: RetryConfig;
  private idempotent = false;
  /** The target's whole body reached the client (for the observer). */
  private bodyComplete = false;
  /** The status the breaker is told when an observer answered in the target's place (0: the client's status). */
  private breakerStatus = 0;
  /** Every try, for their client spans; only while this request's trace is sampled and exported. */
  tries: Attempt[] | null = null;

  constructor(
    readonly req: ClientRequest,
    readonly res: ClientResponse,
    readonly state: ProxyState,
    readonly rt: Runtime,
  ) {
    super();
  }

  /** The config version this request runs on (for the watchers). */
  get runtime(): Runtime {
    return this.rt;
  }

  /** The target whose answer the client got, else the one picked first. */
  get answeredBy(): Target | null {
    return this.winner?.target ?? this.target;
  }

  /** The circuit breaker epoch this request was let through in (-1: none consulted). */
  private breakerEpoch = -1;
  private holdsRequestPermit = false;
  /** Retries counted against `limits.maxRetries`, given back when the request ends. */
  private retryPermits = 0;

  /**
   * Upstream admission, fail-fast: an open circuit breaker sends the request to the route's
   * fallback (or refuses it), and an upstream at its `limits` refuses it at once. Returns
   * false when the request was answered here.
   */
  admit(): boolean {
    let upstream = this.upstream!;
    const breaker = upstream.breaker;
    if (breaker !== null) {
      const now = Date.now();
      if (!breaker.allow(now)) {
        const fallback = this.route!.config.fallback;
        if (fallback?.kind === 'static') {
          this.answer({ status: fallback.status, headers: ['content-type', fallback.contentType, 'x-brisk-fallback', 'circuit-open'], body: fallback.body });
          return false;
        }
        const alternative = fallback?.kind === 'upstream' ? this.rt.upstreams.get(fallback.upstream) : undefined;
        if (alternative === undefined) {
          const retryAfter = Math.ceil(breaker.retryAfterMs(now) / 1000);
          this.errorCode = 'BRISK_CIRCUIT_OPEN';
          this.respondError('BRISK_CIRCUIT_OPEN', `upstream "${upstream.name}": circuit breaker open; failing fast`, ['retry-after', String(retryAfter)]);
          this.finish();
          return false;
        }
        this.upstream = upstream = alternative;
        if (alternative.breaker !== null && !alternative.breaker.allow(now)) {
          this.errorCode = 'BRISK_CIRCUIT_OPEN';
          this.respondError('BRISK_CIRCUIT_OPEN', `upstream "${upstream.name}" (fallback): circuit breaker open; failing fast`, ['retry-after', '1']);
          this.finish();
          return false;
        }
        if (alternative.breaker !== null) this.breakerEpoch = alternative.breaker.epoch;
      } else this.breakerEpoch = breaker.epoch;
    }
    const limits = upstream.limits;
    if (limits !== null) {
      if (!limits.tryAcquireRequest()) {
        if (this.breakerEpoch !== -1) upstream.breaker?.release(this.breakerEpoch);
        this.breakerEpoch = -1;
        this.errorCode = 'BRISK_UPSTREAM_OVERLOADED';
        this.respondError('BRISK_UPSTREAM_OVERLOADED', `upstream "${upstream.name}" has ${limits.config.maxRequests} requests in flight (limits.maxRequests); refused at once`, [
          'retry-after',
          String(limits.config.retryAfterS),
        ]);
        this.finish();
        return false;
      }
      this.holdsRequestPermit = true;
    }
    return true;
  }

  /** Gives back what `admit` took and tells the breaker how the request went. */
  private settleAdmission(): void {
    const upstream = this.upstream;
    if (upstream === null) return;
    for (; this.retryPermits > 0; this.retryPermits--) upstream.limits?.releaseRetry();
    if (this.holdsRequestPermit) {
      this.holdsRequestPermit = false;
      upstream.limits?.releaseRequest();
    }
    if (this.breakerEpoch !== -1 && upstream.breaker !== null) {
      const epoch = this.breakerEpoch;
      this.breakerEpoch = -1;
      const status = this.breakerStatus !== 0 ? this.breakerStatus : this.status;
      if (status === 499) upstream.breaker.release(epoch);
      else upstream.breaker.onResult(status < 500, Date.now(), epoch);
    }
  }

  /** Sends the planned request: the first try, and the timers for the deadline and hedging. */
  start(): void {
    const route = this.route!;
    const upstream = this.upstream!;
    let pendingPermit: UpstreamLimits | null = null;
    const limits = upstream.limits;
    if (limits !== null && this.target!.inFlight >= upstream.config.pool.connections) {
      // Every connection to the target is busy: the request would wait in its pool.
      if (!limits.tryAcquirePending()) {
        this.errorCode = 'BRISK_UPSTREAM_OVERLOADED';
        this.respondError('BRISK_UPSTREAM_OVERLOADED', overloadMessage(upstream.name, 'pending', limits.config.maxPendingRequests), ['retry-after', limits.retryAfter]);
        this.finish();
        return;
      }
      pendingPermit = limits;
    }
    const timeouts = route.config.timeouts ?? upstream.config.timeouts;
    this.retry = route.config.retry ?? upstream.config.retry;
    this.idempotent = IDEMPOTENT.has(this.req.method!) || this.hasIdempotencyKey;
    upstream.budget.onRequest();
    if (this.sampled && this.state.tracer != null) this.tries = [];
    this.watchClient();
    if (timeouts.totalMs > 0) {
      this.deadline = Date.now() + timeouts.totalMs;
      this.totalTimer = setTimeout(() => this.onDeadline(), timeouts.totalMs);
    }
    const hasBody = this.chunked || this.contentLength > 0;
    if (hasBody) {
      const maxBody = route.config.maxBodySize;
      const limit = maxBody > 0 && this.contentLength === -1 ? maxBody : 0;
      // Bodies are kept for a replay only when a retry could use them.
      const keep = this.retry.attempts > 0 || route.config.hedge !== undefined ? this.retry.maxBufferedBody : 0;
      this.body = new BodyReplay(this.req, keep, limit, () => {
        this.bodyTooLarge = true;
      });
    }
    this.launch(this.target!, pendingPermit);
    const hedge = route.config.hedge;
    if (hedge !== undefined && this.idempotent && upstream.targets.length > 1) {
      const delay = hedge.delay === 'p95' ? Math.max(hedge.minDelayMs, upstream.latency.p95()) : hedge.delay;
      this.hedgeTimer = setTimeout(() => this.onHedgeTimer(), delay);
    }
  }

  /** Starts one try on a target. */
  private launch(target: Target, pendingPermit: UpstreamLimits | null = null): void {
    this.attempts++;
    if (this.attempts > 1) {
      this.tried ??= new Set([this.target!]);
      this.tried.add(target);
    }
    const attempt = new Attempt(this, target);
    this.live.push(attempt);
    const upstream = this.upstream!;
    // Retries and hedges were allowed by `maxRetries`; they take a pending slot when one is free.
    if (pendingPermit === null && upstream.limits !== null && target.inFlight >= upstream.config.pool.connections && upstream.limits.tryAcquirePending()) {
      pendingPermit = upstream.limits;
    }
    attempt.pendingPermit = pendingPermit;
    const headers = this.headers;
    // Slots are re-found by name when a middleware removed a header before them (fillHeaderSlot).
    if (this.hostIndex !== -1 && upstream.config.hostHeader === 'target') this.hostIndex = fillHeaderSlot(headers, this.hostIndex, 'host', target.hostHeader);
    // Each try is its own span (child of the gateway's server span): retries and hedges are told apart.
    if (this.traceparentIndex !== -1) this.traceparentIndex = fillHeaderSlot(headers, this.traceparentIndex, 'traceparent', formatTraceparent(this.traceId!, (attempt.spanId = newSpanId()), this.sampled));
    if (this.tries !== null) this.tries.push(attempt);
    const deadlineHeader = this.rt.config.proxy.deadlineHeader;
    if (this.deadlineIndex !== -1 && deadlineHeader !== false) this.deadlineIndex = fillHeaderSlot(headers, this.deadlineIndex, deadlineHeader, String(Math.max(0, this.deadline - Date.now())));
    const options: Dispatcher.DispatchOptions = {
      path: target.basePath === '' ? this.pathAndQuery : target.basePath + this.pathAndQuery,
      method: this.req.method as Dispatcher.HttpMethod,
      headers,
      body: (this.body === null ? null : this.body.source()) as Dispatcher.DispatchOptions['body'],
    };
    const routeTimeouts = this.route!.config.timeouts;
    const perTry = this.retry.perTryTimeoutMs;
    // undici's own timers tick at about one second, too coarse for a per-try timeout that
    // must fail over in a few hundred milliseconds: a native timer per try does it.
    if (perTry > 0) attempt.startTimer(perTry);
    if (routeTimeouts !== undefined) options.headersTimeout = routeTimeouts.responseMs;
    if (routeTimeouts !== undefined) options.bodyTimeout = routeTimeouts.idleMs;
    target.inFlight++;
    try {
      target.pool.dispatch(options, attempt);
    } catch (err) {
      attempt.onError(err as Error);
    }
  }

  private onHedgeTimer(): void {
    this.hedgeTimer = null;
    if (this.done || this.winner !== null || this.hedged) return;
    if (this.body !== null && !this.body.replayable()) return;
    const target = this.upstream!.pick(this.tried ?? new Set([this.target!]), this.hashKey);
    if (target === null || target === this.target || this.tried?.has(target) === true) return;
    this.hedged = true;
    this.launch(target);
  }

  /**
   * A try failed before the client got anything (or got a retryable status). Retries on
   * another target when that is safe and allowed; otherwise, if no other try is running,
   * the client gets the error.
   */
  onAttemptFailed(attempt: Attempt, code: ErrorCode, status: number): void {
    this.removeLive(attempt);
    if (this.done || this.winner !== null) return;
    if (this.live.length > 0) return; // a hedge is still running; it may yet answer
    if (this.canRetry(code, status)) {
      const target = this.upstream!.pick(this.tried ?? new Set([attempt.target]), this.hashKey);
      const limits = this.upstream!.limits;
      if (target !== null && (limits === null || limits.tryAcquireRetry())) {
        if (limits !== null) this.retryPermits++;
        this.retries++;
        this.upstream!.budget.onRetry();
        const backoff = this.backoffMs();
        if (backoff <= 0) this.launch(target);
        else
          setTimeout(() => {
            if (!this.done && this.winner === null) this.launch(target);
          }, backoff);
        return;
      }
    }
    if (status !== 0) {
      // Retries are exhausted on a retryable status: the client gets the last answer. The
      // try kept its response open for exactly this case.
      attempt.deliver();
      return;
    }
    this.fail(code, upstreamErrorMessage(code, this.upstream!.name, attempt.target.origin));
  }

  private canRetry(code: ErrorCode, status: number): boolean {
    const retry = this.retry;
    if (this.retries >= retry.attempts) return false;
    if (this.deadline !== 0 && Date.now() >= this.deadline) return false;
    if (this.clientGone || this.bodyTooLarge) return false;
    if (status !== 0) {
      if (!this.idempotent && !retry.unsafeMethods) return false;
    } else {
      if (!RETRYABLE_ERRORS.has(code)) return false;
      if (!NOT_SENT.has(code) && !this.idempotent && !retry.unsafeMethods) return false;
    }
    if (this.body !== null && !this.body.replayable()) {
      this.state.logger.info({ requestId: this.requestId, route: this.route!.name }, 'not retried: the request body was larger than retry.maxBufferedBody');
      return false;
    }
    if (!this.upstream!.budget.canRetry()) {
      this.state.logger.debug({ upstream: this.upstream!.name }, 'not retried: retry budget exhausted');
      return false;
    }
    return true;
  }

  /** True when a response with this status should be retried rather than delivered. */
  wantsRetryOnStatus(status: number): boolean {
    return this.retry.statuses.includes(status) && this.canRetry('BRISK_UPSTREAM_BAD_RESPONSE', status);
  }

  private backoffMs(): number {
    const { backoffBaseMs, backoffMaxMs } = this.retry;
    if (backoffBaseMs <= 0) return 0;
    const cap = Math.min(backoffMaxMs, backoffBaseMs * 2 ** (this.retries - 1));
    const jittered = Math.random() * cap;
    return this.deadline === 0 ? jittered : Math.min(jittered, Math.max(0, this.deadline - Date.now()));
  }

  /** The try that answers first wins; the others are cancelled. */
  commit(attempt: Attempt): void {
    this.winner = attempt;
    if (this.hedgeTimer !== null) {
      clearTimeout(this.hedgeTimer);
      this.hedgeTimer = null;
    }
    for (const other of this.live) if (other !== attempt) other.cancel();
    this.live.length = 0;
    this.live.push(attempt);
  }

  private removeLive(attempt: Attempt): void {
    const i = this.live.indexOf(attempt);
    if (i !== -1) this.live.splice(i, 1);
  }

  /**
   * Lets the observer answer instead of the winning try's response (a 304 completing a
   * stored response, a 5xx replaced by a stale one). True when it did: the try's body is
   * then read and dropped.
   */
  substitute(statusCode: number, rawHeaders: Buffer[], statusText: string): boolean {
    const a = this.observer!.onHead(statusCode, statusText, rawHeaders);
    if (a === null) return false;
    this.breakerStatus = statusCode;
    this.answer(a);
    return true;
  }

  /** Writes the response head of the winning try. */
  writeHead(statusCode: number, rawHeaders: Buffer[], statusText: string): boolean {
    const res = this.res;
    const out: string[] = [];
    let connection: string | undefined;
    // With CORS handled by the gateway, a target's own CORS headers would be duplicates.
    const gatewayCors = this.route!.config.cors !== undefined;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toString('latin1');
      if (gatewayCors && name.length > 15 && name.slice(0, 15).toLowerCase() === 'access-control-') continue;
      if (isResponseHopByHop(name)) {
        if (name.length === 10 && name.toLowerCase() === 'connection') connection = rawHeaders[i + 1]!.toString('latin1');
        continue;
      }
      out.push(name, rawHeaders[i + 1]!.toString('latin1'));
    }
    if (connection !== undefined) {
      const listed = connectionListedNames(connection);
      if (listed !== null) removeNamed(out, listed);
    }
    const cfg = this.rt.config;
    if (cfg.proxy.via !== false) out.push('via', `1.1 ${cfg.proxy.via}`);
    out.push(cfg.proxy.requestIdHeader, this.requestId!);
    const route = this.route!;
    if (route.responseHeaderEdits !== null) route.responseHeaderEdits.apply(out, null, this.requestId!);
    if (this.stickyCookie !== null) out.push('set-cookie', this.stickyCookie);
    if (this.responseHeaders !== null) out.push(...this.responseHeaders);
    if (this.state.draining && !isHttp2(res)) closeConnectionAfter(this.req, res as ServerResponse);
    this.status = statusCode;
    try {
      if (isHttp2(res)) writeHttp2Head(res, statusCode, out);
      else {
        res.writeHead(statusCode, statusText || undefined, out);
        // node:http keeps a head in its buffer until the first body chunk. A streamed answer
        // whose body starts later (an event stream opening, a long poll that flushed its
        // head) must not wait for it: the head goes out on the next turn unless the body
        // followed in this one (the usual case: one write for both). HTTP/2 sends at once.
        if ((res as ServerResponse).chunkedEncoding) setImmediate(flushHeadIfIdle, this);
      }
    } catch (err) {
      this.state.logger.warn({ err, requestId: this.requestId, target: this.winner?.target.origin }, 'invalid response head from the target');
      this.fail('BRISK_UPSTREAM_BAD_RESPONSE', upstreamErrorMessage('BRISK_UPSTREAM_BAD_RESPONSE', this.upstream!.name, this.winner?.target.origin ?? ''));
      return false;
    }
    return true;
  }

  /** Forwards a body chunk; false asks undici to pause until the client drains. */
  writeData(chunk: Buffer, resume: () => void): boolean {
    this.bytesOut += chunk.length;
    if (this.observer !== null) this.observer.onData(chunk);
    if ((this.res as ServerResponse).write(chunk)) return true;
    this.res.once('drain', resume);
    return false;
  }

  complete(trailers: string[] | Buffer[] | null): void {
    if (this.done) return;
    const res = this.res;
    if (trailers !== null && trailers.length > 0) {
      const fields: Record<string, string> = {};
      for (let i = 0; i < trailers.length; i += 2) fields[trailers[i]!.toString('latin1').toLowerCase()] = trailers[i + 1]!.toString('latin1');
      try {
        res.addTrailers(fields);
      } catch {
        // Invalid trailers from the target are dropped rather than breaking a complete body.
      }
    }
    res.end();
    this.bodyComplete = true;
    this.finish();
  }

  /** The winning try broke after response bytes were sent: the only honest signal left is a cut. */
  cut(code: ErrorCode): void {
    if (this.done) return;
    this.errorCode = code;
    this.res.destroy();
    this.finish();
  }

  private watchingClient = false;

  /** Ends the request (499) when the client goes away; from the pipeline on, or from `start`. */
  watchClient(): void {
    if (this.watchingClient) return;
    this.watchingClient = true;
    this.res.once('close', () => this.onClientClose());
  }

  private onClientClose(): void {
    if (this.done) return;
    this.clientGone = true;
    this.status = 499;
    for (const a of this.live) a.cancel();
    this.live.length = 0;
    this.finish();
  }

  private onDeadline(): void {
    this.totalTimer = null;
    if (this.done) return;
    for (const a of this.live) a.cancel();
    this.live.length = 0;
    if (this.winner !== null) this.cut('BRISK_UPSTREAM_TOTAL_TIMEOUT');
    else this.fail('BRISK_UPSTREAM_TOTAL_TIMEOUT', upstreamErrorMessage('BRISK_UPSTREAM_TOTAL_TIMEOUT', this.upstream!.name, this.target!.origin));
  }

  /**
   * A copy of this request with other headers, sent through the same machinery
   * (admission, breaker, balancing, retries) with nobody waiting: its response goes to
   * the observer only.
   */
  override spawnDetached(headers: string[], observer: ResponseObserver): boolean {
    const req = this.req;
    const detachedReq = { method: req.method, url: req.url, rawHeaders: [], headers: {}, complete: true, socket: null, httpVersion: '1.1', httpVersionMajor: 1 } as unknown as ClientRequest;
    const ex = new Exchange(detachedReq, new DetachedResponse() as unknown as ClientResponse, this.state, this.rt);
    ex.requestId = this.requestId;
    ex.route = this.route;
    ex.upstream = this.rt.upstreamOfRoute[this.route!.config.index]!;
    ex.headers = headers;
    ex.pathAndQuery = this.pathAndQuery;
    ex.path = this.path;
    ex.query = this.query;
    ex.params = this.params;
    ex.clientIp = this.clientIp;
    ex.identity = this.identity;
    ex.hostIndex = this.hostIndex;
    ex.deadlineIndex = this.deadlineIndex;
    ex.hashKey = this.hashKey;
    ex.observer = observer;
    if (!ex.admit()) return true;
    const target = ex.upstream!.pick(null, ex.hashKey);
    if (target === null) {
      ex.fail('BRISK_NO_HEALTHY_TARGET', `upstream "${ex.upstream!.name}" has no target that can take the request`);
      return true;
    }
    ex.target = target;
    ex.start();
    return true;
  }

  get isDone(): boolean {
    return this.done;
  }

  get retryBody(): BodyReplay | null {
    return this.body;
  }

  /** Answers as a middleware decided, instead of forwarding. */
  answer(a: Answer): void {
    if (this.done) return;
    if (a.code !== undefined) {
      this.errorCode = a.code;
      this.respondError(a.code, a.message ?? '', a.headers, a.status);
      this.finish();
      return;
    }
    this.writeAnswer(a);
    this.finish();
  }

  private writeAnswer(a: Answer): void {
    const res = this.res;
    this.status = a.status;
    const body = a.body ?? '';
    const length = Buffer.byteLength(body);
    // 204 and 304 carry no body and, per RFC 9110 §8.6, no Content-Length either.
    const headers: string[] = a.status === 204 || a.status === 304 ? [] : ['content-length', String(length)];
    if (a.headers !== undefined) headers.push(...a.headers);
    if (a.proxied === true) {
      const via = this.rt.config.proxy.via;
      if (via !== false) headers.push('via', `1.1 ${via}`);
      const edits = this.route?.responseHeaderEdits;
      if (edits != null && this.requestId !== undefined) edits.apply(headers, null, this.requestId);
    }
    if (this.responseHeaders !== null) headers.push(...this.responseHeaders);
    if (this.requestId !== undefined) headers.push(this.rt.config.proxy.requestIdHeader, this.requestId);
    try {
      if (isHttp2(res)) writeHttp2Head(res, a.status, headers);
      else {
        if (this.state.draining || ((this.chunked || this.contentLength > 0) && !this.req.complete)) closeConnectionAfter(this.req, res as ServerResponse);
        res.writeHead(a.status, headers);
      }
      res.end(body);
      // HEAD answers carry no body on the wire.
      if (this.req.method !== 'HEAD') this.bytesOut += length;
    } catch {
      res.destroy();
    }
  }

  /** Answers with a Brisk error (nothing, or nothing usable, came from a target). */
  fail(code: ErrorCode, message: string): void {
    if (this.done) return;
    this.errorCode = code;
    if (code === 'BRISK_BODY_TOO_LARGE' || this.bodyTooLarge) {
      this.errorCode = 'BRISK_BODY_TOO_LARGE';
      message = `the request body exceeds the ${this.route?.config.maxBodySize ?? 0}-byte limit of route "${this.route?.name ?? ''}"`;
    }
    for (const a of this.live) a.cancel();
    this.live.length = 0;
    this.respondError(this.errorCode, message);
    this.finish();
  }

  private respondError(code: ErrorCode, message: string, extraHeaders?: readonly string[], statusOverride?: number): void {
    const res = this.res;
    const status = statusOverride ?? ERROR_CODES[code].status;
    const observer = this.observer;
    if (observer !== null && !res.headersSent && !res.destroyed) {
      // The observer (the route cache) may have a stale answer for this failure.
      const a = observer.onError(code);
      if (a !== null) {
        this.breakerStatus = status;
        this.writeAnswer(a);
        return;
      }
    }
    this.status = status;
    if (res.headersSent || res.destroyed) {
      if (!res.destroyed && res.headersSent) res.destroy();
      return;
    }
    const body = errorBody(code, message, this.requestId, this.traceId);
    const length = Buffer.byteLength(body);
    const headers: string[] = ['content-type', 'application/json; charset=utf-8', 'content-length', String(length)];
    if (this.requestId !== undefined) headers.push(this.rt.config.proxy.requestIdHeader, this.requestId);
    if (extraHeaders !== undefined) headers.push(...extraHeaders);
    else if (status === 503) headers.push('retry-after', '1');
    if (this.responseHeaders !== null) headers.push(...this.responseHeaders);
    // A request whose body was not read cannot leave the connection reusable; nor can a
    // malformed one.
    // A bodiless request counts as incomplete until node has read past its head, so only a
    // request that announced a body and has not delivered it all is treated as unfinished.
    const bodyUnread = (this.chunked || this.contentLength > 0) && !this.req.complete;
    if (!isHttp2(res) && (this.state.draining || code === 'BRISK_BAD_REQUEST' || bodyUnread)) {
      closeConnectionAfter(this.req, res as ServerResponse);
    }
    try {
      if (isHttp2(res)) writeHttp2Head(res, status, headers);
      else res.writeHead(status, headers);
      res.end(body);
      if (this.req.method !== 'HEAD') this.bytesOut += length;
    } catch {
      res.destroy();
    }
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.settleAdmission();
    const observer = this.observer;
    if (observer !== null) {
      this.observer = null;
      observer.onEnd(this.bodyComplete);
    }
    if (this.finishHooks !== null) this.runFinishHooks(this.status);
    if (this.totalTimer !== null) clearTimeout(this.totalTimer);
    if (this.hedgeTimer !== null) clearTimeout(this.hedgeTimer);
    const metrics = this.state.metrics;
    if (metrics != null) metrics.record(this);
    const log = this.state.accessLog;
    if (log !== null) {
      const req = this.req;
      log.write(
        this.requestId,
        req.method,
        req.url,
        this.route?.name,
        this.upstream?.name,
        (this.winner?.target ?? this.target)?.origin,
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
    if (this.sampled && this.state.tracer != null) this.state.tracer.recordExchange(this);
  }
}

/**
 * One try of a request on one target: the handler undici drives. Undici's callback-style
 * handler is used (not its request() API) because it hands over raw headers and chunks
 * with no stream or header object in between.
 */
export class Attempt implements Dispatcher.DispatchHandler, TryRecord {
  private abortDispatch: ((err?: Error) => void) | null = null;
  readonly started = performance.now();
  /** Trace context: this try's span id ('' when not propagating), when it ended, and why it failed. */
  spanId = '';
  endedAt = 0;
  errorType: string | null = null;
  private resume: (() => void) | null = null;
  /** Ended from our side (lost a race, retried, client gone): what follows is not news. */
  private cancelled = false;
  private finished = false;
  /** A retryable status held back while a retry is tried; delivered if none is possible. */
  private held: { status: number; headers: Buffer[]; text: string } | null = null;
  /** Given up for a retry: the rest of its response is read and dropped. */
  private discarding = false;
  private reported = false;
  status = 0;

  constructor(
    private readonly ex: Exchange,
    readonly target: Target,
  ) {}

  /** The upstream limits whose pending slot this try holds until it gets a connection. */
  pendingPermit: UpstreamLimits | null = null;

  private releasePending(): void {
    if (this.pendingPermit !== null) {
      this.pendingPermit.releasePending();
      this.pendingPermit = null;
    }
  }

  private timer: NodeJS.Timeout | null = null;

  /** Gives this try `ms` to produce response headers. */
  startTimer(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      // Timers run before the event loop reads sockets: when the loop is late, the answer
      // may already be waiting unread. Look again after this turn's reads (setImmediate
      // runs after the poll phase) before calling it a timeout.
      setImmediate(() => this.onPerTryTimeout(ms));
    }, ms);
  }

  private onPerTryTimeout(ms: number): void {
    {
      if (this.finished || this.cancelled || this.status !== 0) return;
      const err = Object.assign(new Error(`no response headers within ${ms}ms (retry.perTryTimeout)`), { code: 'UND_ERR_HEADERS_TIMEOUT' });
      if (this.abortDispatch !== null) this.abortDispatch(err);
      else this.onError(err);
    }
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  cancel(): void {
    if (this.finished || this.cancelled) return;
    this.cancelled = true;
    this.errorType ??= 'cancelled';
    this.abortDispatch?.(new BriskError('BRISK_INTERNAL', 'try cancelled'));
  }

  onConnect(abort: (err?: Error) => void): void {
    // Undici calls this when the request is put on a connection: it waits no more.
    this.releasePending();
    this.abortDispatch = abort;
    if (this.cancelled || this.finished || this.ex.isDone) {
      this.cancelled = true;
      abort(new BriskError('BRISK_INTERNAL', 'try cancelled'));
    }
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    // Interim answers (100, 103) are not passed on: node:http already answered Expect itself.
    if (statusCode < 200) return true;
    this.clearTimer();
    if (this.cancelled || this.finished) return false;
    const ex = this.ex;
    const now = performance.now();
    const latency = now - this.started;
    this.target.observeLatency(latency, Date.now());
    ex.upstream!.latency.record(latency);
    this.status = statusCode;
    if (ex.isDone || (ex.winner !== null && ex.winner !== this)) {
      this.cancel();
      return false;
    }
    this.resume = resume;
    if (ex.winner === null && ex.wantsRetryOnStatus(statusCode)) {
      // Hold the answer: if no retry can be made after all, this is what the client gets.
      this.held = { status: statusCode, headers: rawHeaders, text: statusText };
      this.report(statusCode >= 500 ? Outcome.Http5xx : Outcome.Success);
      this.reported = true;
      ex.onAttemptFailed(this, 'BRISK_UPSTREAM_BAD_RESPONSE', statusCode);
      // Delivered after all, or given up for a retry: then its body is read and dropped,
      // which keeps the connection reusable.
      if (this.held !== null) this.discarding = true;
      return true;
    }
    ex.commit(this);
    if (ex.observer !== null && ex.substitute(statusCode, rawHeaders, statusText)) {
      this.discarding = true;
      this.report(statusCode >= 500 ? Outcome.Http5xx : Outcome.Success);
      this.reported = true;
      return true;
    }
    return ex.writeHead(statusCode, rawHeaders, statusText);
  }

  /** Sends the held answer after all (no retry was possible). */
  deliver(): void {
    const held = this.held;
    if (held === null) return;
    this.held = null;
    this.discarding = false;
    this.ex.commit(this);
    if (this.ex.observer !== null && this.ex.substitute(held.status, held.headers, held.text)) {
      this.discarding = true;
      return;
    }
    this.ex.writeHead(held.status, held.headers, held.text);
  }

  onData(chunk: Buffer): boolean {
    if (this.discarding) return true;
    if (this.cancelled || this.ex.winner !== this) return false;
    return this.ex.writeData(chunk, this.resume!);
  }

  onComplete(trailers: string[] | Buffer[] | null): void {
    if (this.finished) return;
    this.finished = true;
    this.releasePending();
    this.endedAt = performance.now();
    this.clearTimer();
    this.target.requestEnded();
    if (this.discarding) return;
    if (this.cancelled || this.ex.winner !== this) return;
    if (!this.reported) this.report(this.status >= 500 ? Outcome.Http5xx : Outcome.Success);
    this.ex.complete(trailers);
  }

  onError(err: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.releasePending();
    this.endedAt = performance.now();
    this.clearTimer();
    this.target.requestEnded();
    const ex = this.ex;
    if (this.discarding) return;
    if (this.cancelled || ex.isDone) return;
    if (ex.bodyTooLarge) {
      ex.fail('BRISK_BODY_TOO_LARGE', '');
      return;
    }
    const code = upstreamErrorCode(err);
    this.errorType = code;
    if (code === 'BRISK_BAD_REQUEST' || code === 'BRISK_INTERNAL') {
      // The request itself could not be sent as it is: not the target's fault, not retried.
      if (code === 'BRISK_INTERNAL') ex.state.logger.error({ err, requestId: ex.requestId }, 'proxy error');
      if (ex.winner === this) ex.cut(code);
      else ex.fail(code, upstreamErrorMessage(code, ex.upstream!.name, this.target.origin));
      return;
    }
    this.target.failures++;
    // A refused connection fails in microseconds: without a penalty the latency-aware
    // balancer would take the dead target for the fastest one.
    this.target.observeLatency(Math.max(performance.now() - this.started, GATEWAY_FAILURE_PENALTY_MS), Date.now());
    this.report(Outcome.GatewayFailure, (err as { code?: string }).code ?? err.message);
    if (ex.winner === this) ex.cut(code);
    else ex.onAttemptFailed(this, code, 0);
  }

  private report(outcome: Outcome, detail?: string): void {
    this.ex.upstream!.outlier.onResult(this.target, outcome, Date.now(), detail);
  }
}

/** The response of a detached exchange: accepts everything, sends nothing. */
class DetachedResponse {
  headersSent = false;
  destroyed = false;
  writableEnded = false;
  chunkedEncoding = false;
  shouldKeepAlive = true;
  writeHead(): this {
    this.headersSent = true;
    return this;
  }
  write(): boolean {
    return true;
  }
  end(): this {
    this.headersSent = true;
    this.writableEnded = true;
    return this;
  }
  destroy(): this {
    this.destroyed = true;
    return this;
  }
  flushHeaders(): void {}
  addTrailers(): void {}
  once(): this {
    return this;
  }
}

function flushHeadIfIdle(ex: Exchange): void {
  const res = ex.res as ServerResponse;
  if (ex.bytesOut === 0 && !ex.isDone && !res.destroyed && !res.writableEnded) res.flushHeaders();
}

function isHttp2(res: ClientResponse): res is Http2ServerResponse {
  return 'stream' in res;
}

/** HTTP/2 responses take a header object; repeated names become arrays. */
function writeHttp2Head(res: Http2ServerResponse, status: number, flat: string[]): void {
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!.toLowerCase();
    const value = flat[i + 1]!;
    const prev = headers[name];
    headers[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  res.writeHead(status, headers);
}


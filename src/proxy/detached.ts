import type { ErrorCode } from '../core/errors.js';
import type { ResponseObserver, RetryVerdict } from '../core/middleware.js';
import type { Logger } from '../observability/logger.js';
import type { CompiledRoute } from '../router/index.js';
import { Admission, Admit } from '../upstreams/call/admission.js';
import { UpstreamCall } from '../upstreams/call/call.js';
import { Take, type ResponseSink } from '../upstreams/call/types.js';
import { IDEMPOTENT } from '../upstreams/errors.js';
import type { Upstream } from '../upstreams/upstream.js';

/**
 * Sends a copy of a request with other headers through the same admission and the same
 * `UpstreamCall` as a client's request (breaker, limits, balancing, retries, timeouts),
 * with nobody waiting: the answer goes to `observer` only. This is how the route cache
 * refreshes a stale entry in the background. False when it could not be sent (the
 * breaker is open, the upstream is at its limits, or no target can take it): the
 * observer then hears nothing.
 */
export function spawnDetachedCall(
  upstream: Upstream,
  route: CompiledRoute,
  method: string,
  pathAndQuery: string,
  headers: string[],
  hostSlot: number,
  hashKey: string | null,
  deadlineHeader: string | false,
  deadlineSlot: number,
  observer: ResponseObserver,
  logger: Logger,
): boolean {
  const admission = new Admission(upstream);
  if (admission.admit(Date.now()) !== Admit.Admitted) return false;
  const target = upstream.pick(null, hashKey);
  if (target === null) {
    admission.settle(-1);
    return false;
  }
  const sink = new ObserverSink(observer, admission);
  const retry = route.config.retry ?? upstream.config.retry;
  const timeouts = route.config.timeouts ?? upstream.config.timeouts;
  const call = new UpstreamCall(
    upstream,
    admission,
    {
      method,
      pathAndQuery,
      headers,
      hostSlot: upstream.config.hostHeader === 'target' ? hostSlot : -1,
      deadlineSlot: deadlineHeader === false ? -1 : deadlineSlot,
      deadlineHeader,
      grpcTimeoutSlot: -1,
      grpc: false,
      traceparentSlot: -1,
      traceId: undefined,
      sampled: false,
      body: null,
      idempotent: IDEMPOTENT.has(method),
      hashKey,
    },
    { retry, hedge: undefined, totalMs: timeouts.totalMs, headersTimeoutMs: route.config.timeouts?.responseMs, bodyTimeoutMs: route.config.timeouts?.idleMs, recordTries: false },
    sink,
    logger,
  );
  sink.call = call;
  call.start(target);
  return true;
}

/** Shows a background answer to the observer; any substitute it makes goes nowhere. */
class ObserverSink implements ResponseSink {
  call: UpstreamCall | null = null;
  private status = 0;
  private ended = false;

  constructor(
    private readonly observer: ResponseObserver,
    private readonly admission: Admission,
  ) {}

  onHead(status: number, rawHeaders: Buffer[], statusText: string): Take {
    this.status = status;
    if (this.observer.onHead(status, statusText, rawHeaders) === null) return Take.Stream;
    // The observer answered in the target's place (a 304 completing its copy): done.
    this.end(status < 500 ? 1 : 0, false);
    return Take.Discard;
  }

  retryVerdict(status: number, rawHeaders: Buffer[]): RetryVerdict {
    return this.observer.retryVerdict?.(status, rawHeaders) ?? null;
  }

  onData(chunk: Buffer): boolean {
    this.observer.onData(chunk);
    return true;
  }

  onComplete(): void {
    this.end(this.status < 500 ? 1 : 0, true);
  }

  onFail(code: ErrorCode): void {
    this.observer.onError(code);
    this.end(code === 'BRISK_UPSTREAM_OVERLOADED' ? -1 : 0, false);
  }

  onCut(): void {
    this.end(0, false);
  }

  private end(verdict: 1 | 0 | -1, complete: boolean): void {
    if (this.ended) return;
    this.ended = true;
    this.call?.cancel();
    this.admission.settle(verdict);
    this.observer.onEnd(complete);
  }
}

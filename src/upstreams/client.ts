/**
 * The internal HTTP client for requests the gateway makes itself (aggregate parts): one
 * request to an upstream through exactly the machinery of a proxied request — the same
 * `Admission` (circuit breaker, `limits`) and the same `UpstreamCall` (balancer, retries
 * within the budget, per-try and total timeouts, outlier and latency feedback) — with a
 * sink that keeps the whole answer, body included (bounded), in memory.
 *
 * @example
 * const res = await upstreamRequest(upstream, { path: '/api/users/1', headers: ['accept', 'application/json'], timeoutMs: 2000 });
 * if (res.status === 200) JSON.parse(res.body.toString('utf8'));
 */
import { BriskError, type ErrorCode } from '../core/errors.js';
import { Admission, Admit } from './call/admission.js';
import { UpstreamCall } from './call/call.js';
import { Take, type CallRequest, type ResponseSink } from './call/types.js';
import { IDEMPOTENT, upstreamErrorMessage } from './errors.js';
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
  return new Promise((resolve, reject) => new BufferedCall(upstream, options, resolve, reject).start());
}

/** The sink of an internal request: collects the answer, settles admission, resolves or rejects once. */
class BufferedCall implements ResponseSink {
  private readonly admission: Admission;
  private call: UpstreamCall | null = null;
  private settled = false;
  private status = 0;
  private readonly headers: string[] = [];
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private readonly maxBody: number;
  private readonly onAbort = (): void => this.fail('BRISK_INTERNAL', `request to upstream "${this.upstream.name}" cancelled`, true);

  constructor(
    private readonly upstream: Upstream,
    private readonly options: UpstreamRequestOptions,
    private readonly resolve: (r: UpstreamResponse) => void,
    private readonly reject: (e: UpstreamRequestError) => void,
  ) {
    this.admission = new Admission(upstream);
    this.maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
  }

  start(): void {
    const upstream = this.upstream;
    const options = this.options;
    if (options.signal?.aborted === true) return this.fail('BRISK_INTERNAL', `request to upstream "${upstream.name}" cancelled`, true);
    const admitted = this.admission.admit(Date.now());
    if (admitted === Admit.BreakerOpen) return this.fail('BRISK_CIRCUIT_OPEN', `upstream "${upstream.name}": circuit breaker open; failing fast`);
    if (admitted === Admit.Overloaded) {
      return this.fail('BRISK_UPSTREAM_OVERLOADED', `upstream "${upstream.name}" has ${upstream.limits!.config.maxRequests} requests in flight (limits.maxRequests); refused at once`);
    }
    const target = upstream.pick(null, null);
    if (target === null) return this.fail('BRISK_NO_HEALTHY_TARGET', `upstream "${upstream.name}" has no target that can take the request`);
    const method = options.method ?? 'GET';
    const headers = options.headers === undefined ? [] : options.headers.slice();
    const host = options.host;
    let hostSlot = -1;
    if (upstream.config.hostHeader === 'target' || host === undefined || host === '') {
      hostSlot = headers.length + 1;
      headers.push('host', '');
    } else headers.push('host', host);
    const deadlineHeader = options.deadlineHeader ?? false;
    let deadlineSlot = -1;
    if (deadlineHeader !== false && options.timeoutMs > 0) {
      deadlineSlot = headers.length + 1;
      headers.push(deadlineHeader, '');
    }
    const body = options.body ?? null;
    const request: CallRequest = {
      method,
      pathAndQuery: options.path,
      headers,
      hostSlot,
      deadlineSlot,
      deadlineHeader,
      grpcTimeoutSlot: -1,
      grpc: false,
      traceparentSlot: -1,
      traceId: undefined,
      sampled: false,
      body: body === null ? null : { source: () => body, replayable: () => true, tooLarge: false },
      idempotent: IDEMPOTENT.has(method),
      hashKey: null,
    };
    const policy = { retry: upstream.config.retry, hedge: undefined, totalMs: options.timeoutMs, headersTimeoutMs: undefined, bodyTimeoutMs: undefined, recordTries: false };
    this.call = new UpstreamCall(upstream, this.admission, request, policy, this, null);
    options.signal?.addEventListener('abort', this.onAbort, { once: true });
    this.call.start(target);
  }

  onHead(status: number, rawHeaders: Buffer[]): Take {
    this.status = status;
    const headers = this.headers;
    for (let i = 0; i < rawHeaders.length; i += 2) headers.push(rawHeaders[i]!.toString('latin1').toLowerCase(), rawHeaders[i + 1]!.toString('latin1'));
    return Take.Stream;
  }

  onData(chunk: Buffer): boolean {
    this.size += chunk.length;
    if (this.maxBody > 0 && this.size > this.maxBody) {
      // The caller's limit, not the upstream's fault: no breaker verdict.
      this.fail('BRISK_UPSTREAM_RESPONSE_TOO_LARGE', `upstream "${this.upstream.name}": the response from ${this.call?.answeredBy?.origin ?? ''} is larger than ${this.maxBody} bytes`);
      return false;
    }
    this.chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    if (this.settled) return;
    const status = this.status;
    this.settle(status < 500 ? 1 : 0);
    const chunks = this.chunks;
    const call = this.call!;
    this.resolve({ status, headers: this.headers, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.size), target: call.answeredBy!.origin, attempts: call.attempts });
  }

  onFail(code: ErrorCode, message: string): void {
    this.fail(code, message);
  }

  onCut(code: ErrorCode): void {
    this.fail(code, upstreamErrorMessage(code, this.upstream.name, this.call?.answeredBy?.origin ?? ''));
  }

  private fail(code: ErrorCode, message: string, cancelled = false): void {
    if (this.settled) return;
    // A body over the caller's limit, a caller that gave up, or a limit of our own says nothing about the upstream's health.
    this.settle(cancelled || code === 'BRISK_UPSTREAM_RESPONSE_TOO_LARGE' || code === 'BRISK_UPSTREAM_OVERLOADED' ? -1 : 0);
    const call = this.call;
    this.reject(new UpstreamRequestError(code, message, this.upstream.name, call?.latest?.origin ?? null, call?.attempts ?? 0, cancelled));
  }

  private settle(verdict: 1 | 0 | -1): void {
    this.settled = true;
    this.call?.cancel();
    this.options.signal?.removeEventListener('abort', this.onAbort);
    this.admission.settle(verdict);
  }
}

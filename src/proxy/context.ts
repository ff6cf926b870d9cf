/** The per-request context types shared by the planner, the exchange and upgrades. */
import type { ServerResponse } from 'node:http';
import type { ErrorCode } from '../core/errors.js';
import type { ClientRequest } from '../core/http.js';
import type { ResponseObserver } from '../core/middleware.js';
import type { ResponseTransform } from '../core/response-transform.js';
import type { Runtime } from './runtime.js';
import type { LoadShedder } from '../middlewares/shedding/load-shedder.js';
import type { AccessLog } from '../observability/access-log.js';
import type { Logger } from '../observability/logger.js';
import type { RequestSink } from '../observability/recorder.js';
import type { Tracer } from '../observability/tracing.js';
import type { Identity } from '../core/middleware.js';
import type { CompiledRoute, RouteParams } from '../router/index.js';
import type { Target } from '../upstreams/target.js';
import type { Upstream } from '../upstreams/upstream.js';
import type { TrustedProxies } from './trust.js';

/** What the proxy reads from the gateway on every request. */
export interface ProxyState {
  /** The routing table in force; swapped whole on reload. */
  runtime: Runtime;
  /** True while shutting down: answers carry `Connection: close`. */
  draining: boolean;
  readonly logger: Logger;
  /** Null when the access log is off. */
  accessLog: AccessLog | null;
  /** Gateway-wide load shedding (`overload`); null when off. */
  shedder: LoadShedder | null;
  /** Where finished requests are recorded for metrics; null (or absent) when metrics are off. */
  metrics?: RequestSink | null;
  /** Span recording and export (`tracing.otlp`); null or absent when spans are not exported. */
  tracer?: Tracer | null;
}

export const kTrusted = Symbol('brisk.trustedPeer');
export const kTrustedBy = Symbol('brisk.trustedPeerBy');
export const kClosing = Symbol('brisk.closing');
/**
 * A client socket remembers whether its peer is trusted, for the config version that
 * decided, and whether an answer on it already said `Connection: close`.
 */
export type TrackedSocket = { [kTrusted]?: boolean; [kTrustedBy]?: TrustedProxies; [kClosing]?: boolean; remoteAddress?: string | undefined; encrypted?: boolean };

/**
 * Ends the connection after this HTTP/1 response, and stops taking requests on it. Node
 * has often parsed requests pipelined behind this one already and hands them over anyway;
 * RFC 9112 §9.6 says not to process them — after a refused framing they may be exactly
 * the smuggled request — and their answers could never be sent.
 */
export function closeConnectionAfter(req: ClientRequest, res: ServerResponse): void {
  res.shouldKeepAlive = false;
  const socket = req.socket as unknown as TrackedSocket | null;
  if (socket !== null) socket[kClosing] = true;
}

/** True when an answer on this HTTP/1 connection said `Connection: close`: take no more requests on it. */
export function connectionClosing(socket: unknown): boolean {
  return (socket as TrackedSocket | null)?.[kClosing] === true;
}

/**
 * What the gateway decided for one request before anything is sent upstream: the route,
 * the target, the headers and path to send. Filled by `planForward`; the exchange of a
 * plain request extends it, an upgrade uses it as is.
 */
export class ForwardPlan {
  requestId: string | undefined = undefined;
  route: CompiledRoute | null = null;
  upstream: Upstream | null = null;
  target: Target | null = null;
  /** The flat raw header list for the target. */
  headers: string[] = [];
  /** Path (rewritten) and query for the target, without the target's base path. */
  pathAndQuery = '';
  /** The path as received (no query), the raw query, and the route's parameters. */
  path = '';
  query = '';
  params: RouteParams | null = null;
  /** The client's address, honouring trusted proxies. */
  clientIp = '';
  /** The scheme the client used: the connection's, or a trusted proxy's `X-Forwarded-Proto`. */
  scheme: 'http' | 'https' = 'http';
  /** Who the client is, once an auth middleware has said so. */
  identity: Identity | null = null;
  /** Response headers added by the route's middlewares (flat), or null. */
  responseHeaders: string[] | null = null;
  /** Called once when the request ends (middlewares' permits and counters), or null. */
  finishHooks: ((status: number) => void)[] | null = null;

  /** Runs `cb` once when the request has ended, with the status the client got (499: it left first). */
  onFinish(cb: (status: number) => void): void {
    (this.finishHooks ??= []).push(cb);
  }

  /** Runs the finish hooks once, with the status the client got. */
  runFinishHooks(status: number): void {
    const hooks = this.finishHooks;
    if (hooks === null) return;
    this.finishHooks = null;
    for (const hook of hooks) {
      try {
        hook(status);
      } catch {
        // A hook's failure must not keep the others from running.
      }
    }
  }
  /** The route cache's verdict (HIT, MISS, STALE, …) for metrics; null when the route has no cache. */
  cacheStatus: string | null = null;
  /** Sees the target's response (the route cache); null: no cost. */
  observer: ResponseObserver | null = null;
  /** Re-encodes the body the client gets (compression); null: no cost. */
  transform: ResponseTransform | null = null;
  /**
   * Sends this request again on its own, with other headers, nobody waiting for the
   * answer (a cache's background revalidation); false when that is not possible here.
   */
  spawnDetached(_headers: string[], _observer: ResponseObserver): boolean {
    return false;
  }
  /** Index in `headers` of the Host value (-1: none), rewritten per try when the upstream sends the target's host. */
  hostIndex = -1;
  /** Index in `headers` of the deadline header's value (-1: none), rewritten per try. */
  deadlineIndex = -1;
  /** The client sent an `Idempotency-Key`: retries are safe whatever the method. */
  hasIdempotencyKey = false;
  /** The consistent-hash key of the request, when the upstream hashes. */
  hashKey: string | null = null;
  /** A `Set-Cookie` value pinning the client to its target (sticky sessions), or null. */
  stickyCookie: string | null = null;
  /** The client speaks gRPC (`application/grpc…` over HTTP/2): errors are answered as gRPC statuses. */
  grpc = false;
  /** gRPC-Web translated to gRPC on this route (`grpcWeb: true`): 0 none, 1 binary, 2 base64 text (see `grpc-web.ts`). */
  grpcWeb = 0;
  /** The client's `grpc-timeout` in ms (-1: none). */
  grpcTimeoutMs = -1;
  /** Index in `headers` of the `grpc-timeout` value sent to the target (-1: none), filled per try with the time left. */
  grpcTimeoutIndex = -1;
  /** -1: no Content-Length. */
  contentLength = -1;
  chunked = false;
  /** Why the request cannot be forwarded, when it cannot. */
  failCode: ErrorCode | null = null;
  failMessage = '';
  /** W3C trace context (`tracing.propagate`): the trace, undefined when not propagating. */
  traceId: string | undefined = undefined;
  /** The gateway's server span, and the caller's span ('' when Brisk started the trace). */
  spanId = '';
  parentSpanId = '';
  sampled = false;
  /** The caller's `tracestate`, validated, passed on; null when none. */
  tracestate: string | null = null;
  /** Index in `headers` of the `traceparent` value (-1: none), rewritten per try with the try's own span id. */
  traceparentIndex = -1;
}


/**
 * What the watchers (metrics, the access log, traces) read of a request once it has
 * ended. The proxy's exchange satisfies these shapes itself, so recording a request
 * copies nothing and allocates nothing; watchers never see the exchange's machinery.
 */
import type { ErrorCode } from './errors.js';
import type { ClientRequest } from './http.js';
import type { RouteView, RuntimeView, TargetView, UpstreamView } from './views.js';

/** What the gateway decided for a request: enough for its server span and logs. */
export interface PlanRecord {
  readonly requestId: string | undefined;
  readonly route: RouteView | null;
  readonly upstream: UpstreamView | null;
  /** The target picked for the first try, or null. */
  readonly target: TargetView | null;
  /** The path as received (no query); '' when refused before it was split. */
  readonly path: string;
  /** Path (rewritten) and query sent to the target, without the target's base path. */
  readonly pathAndQuery: string;
  /** The client's address, honouring trusted proxies. */
  readonly clientIp: string;
  /** W3C trace context: the trace (undefined when not propagating), the gateway's span, the caller's span. */
  readonly traceId: string | undefined;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly sampled: boolean;
}

/** One try of a request on one target, for its client span. */
export interface TryRecord {
  readonly target: TargetView;
  /** This try's span id ('' when not propagating). */
  readonly spanId: string;
  /** `performance.now()` when it was sent and when it ended (0: still running). */
  readonly started: number;
  readonly endedAt: number;
  /** The target's status (0: none came). */
  readonly status: number;
  /** Why it failed (`cancelled`, a `BRISK_...` code), or null. */
  readonly errorType: string | null;
}

/** A request that has ended, as the watchers read it. */
export interface ExchangeRecord extends PlanRecord {
  readonly req: ClientRequest;
  /** The config version the request ran on. */
  readonly runtime: RuntimeView;
  /** `performance.now()` when it arrived. */
  readonly started: number;
  /** The status the client got (499: it left first). */
  readonly status: number;
  /** Body bytes sent to the client. */
  readonly bytesOut: number;
  /** The request's Content-Length (-1: none). */
  readonly contentLength: number;
  /** The target whose answer the client got (or the last one tried), or null. */
  readonly answeredBy: TargetView | null;
  readonly errorCode: ErrorCode | null;
  /** The route cache's verdict, or null when the route has no cache. */
  readonly cacheStatus: string | null;
  /** Tries sent (retries and hedges included). */
  readonly attempts: number;
  readonly retries: number;
  readonly hedged: boolean;
  /** Every try, while the trace is sampled and exported; null otherwise. */
  readonly tries: readonly TryRecord[] | null;
  /** The client speaks gRPC. */
  readonly grpc: boolean;
  /** The gRPC status the client got (-1: none, or not gRPC). */
  readonly grpcStatus: number;
}

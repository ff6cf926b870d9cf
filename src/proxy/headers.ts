/**
 * Header hygiene for both directions. Works on flat raw header lists
 * ([name, value, name, value, ...]) because that is what node:http gives and what undici
 * and `writeHead` take: no per-request header objects.
 */

/** What a request header name means to the proxy. */
export const enum HeaderKind {
  Pass = 0,
  /** Hop-by-hop: never forwarded. */
  HopByHop,
  Host,
  Connection,
  Te,
  XForwardedFor,
  XForwardedProto,
  XForwardedHost,
  Forwarded,
  Via,
  ContentLength,
  TransferEncoding,
  RequestId,
  IdempotencyKey,
  TraceParent,
  TraceState,
  /** Forwarded; noted (gRPC is told by its content type). */
  ContentType,
  /** gRPC's deadline: read, and sent on reduced per try (never passed as received). */
  GrpcTimeout,
}

const KNOWN: ReadonlyMap<string, HeaderKind> = new Map([
  ['connection', HeaderKind.Connection],
  ['keep-alive', HeaderKind.HopByHop],
  ['proxy-connection', HeaderKind.HopByHop],
  ['proxy-authenticate', HeaderKind.HopByHop],
  ['proxy-authorization', HeaderKind.HopByHop],
  ['te', HeaderKind.Te],
  ['trailers', HeaderKind.HopByHop],
  ['upgrade', HeaderKind.HopByHop],
  // Brisk answers `Expect: 100-continue` itself (node:http does) and streams the body on.
  ['expect', HeaderKind.HopByHop],
  ['http2-settings', HeaderKind.HopByHop],
  ['transfer-encoding', HeaderKind.TransferEncoding],
  ['host', HeaderKind.Host],
  ['x-forwarded-for', HeaderKind.XForwardedFor],
  ['x-forwarded-proto', HeaderKind.XForwardedProto],
  ['x-forwarded-host', HeaderKind.XForwardedHost],
  ['forwarded', HeaderKind.Forwarded],
  ['via', HeaderKind.Via],
  ['content-length', HeaderKind.ContentLength],
  ['idempotency-key', HeaderKind.IdempotencyKey],
  ['content-type', HeaderKind.ContentType],
  ['grpc-timeout', HeaderKind.GrpcTimeout],
  // HTTP/2 pseudo-headers: the authority is the host; the rest are rebuilt by undici.
  [':authority', HeaderKind.Host],
]);

/**
 * Classifies request header names. Raw names arrive in whatever case the client wrote, so
 * classifying them would lower-case (allocate) every name on every request. Clients repeat
 * the same few spellings; caching by the raw spelling makes the common case one map
 * lookup. Bounded so a hostile client sending random names cannot grow it. One instance
 * per config version, because the request id header is configurable.
 */
export class HeaderClassifier {
  private readonly known: Map<string, HeaderKind>;
  private readonly byRawName = new Map<string, HeaderKind>();

  constructor(
    requestIdHeader: string,
    /** W3C trace context is handled (`tracing.propagate`): its headers are read, not passed through. */
    readonly traceContext = false,
  ) {
    this.known = new Map(KNOWN);
    if (traceContext) {
      this.known.set('traceparent', HeaderKind.TraceParent);
      this.known.set('tracestate', HeaderKind.TraceState);
    }
    this.known.set(requestIdHeader.toLowerCase(), HeaderKind.RequestId);
  }

  kind(name: string): HeaderKind {
    let kind = this.byRawName.get(name);
    if (kind === undefined) {
      kind = this.known.get(name.toLowerCase()) ?? (name.charCodeAt(0) === 58 /* ':' */ ? HeaderKind.HopByHop : HeaderKind.Pass);
      if (this.byRawName.size < KIND_CACHE_LIMIT) this.byRawName.set(name, kind);
    }
    return kind;
  }
}

const KIND_CACHE_LIMIT = 4096;

/** A request id we accept from a client: short and free of anything that could break a log line. */
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:@\-+=/]{1,128}$/;
export function isAcceptableRequestId(value: string): boolean {
  return SAFE_REQUEST_ID.test(value);
}

/** `Forwarded` node syntax (RFC 7239 §6): IPv6 addresses are quoted and bracketed. */
export function forwardedNode(ip: string): string {
  return ip.includes(':') ? `"[${ip}]"` : ip;
}

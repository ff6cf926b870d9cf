import { randomUuid } from '../core/random-ids.js';
import type { ErrorCode } from '../core/errors.js';
import { isHttp2Request, type ClientRequest, type ClientResponse } from '../core/http.js';
import type { Answer } from '../core/middleware.js';
import type { LoadShedder } from '../middlewares/shedding/load-shedder.js';
import { priorityOf, requestPriority } from '../middlewares/shedding/priority.js';
import type { Runtime } from './runtime.js';
import { connectionListedNames, removeNamed } from '../core/hop-by-hop.js';
import { forwardedNode, HeaderKind, isAcceptableRequestId } from './headers.js';
import { unmapIPv4 } from './trust.js';
import { runPipeline } from '../core/middleware.js';
import { beginTrace } from '../observability/trace-context.js';
import { isGrpcContentType, parseGrpcTimeout } from '../core/grpc.js';
import { GrpcWeb, grpcContentTypeOf, grpcWebKind } from './grpc-web.js';
import { Exchange } from './exchange.js';
import { PipelineContext } from './pipeline-context.js';
import { ForwardPlan, kClosing, kTrusted, kTrustedBy, type ProxyState, type TrackedSocket } from './context.js';

/**
 * Routes the request, picks a target and builds what is sent. Returns false (with
 * `failCode` set) when the request is answered by the gateway instead. One pass over the
 * raw headers classifies them, keeps what is forwarded and notes what matters.
 */
export function planForward(req: ClientRequest, rt: Runtime, plan: ForwardPlan): boolean {
  const cfg = rt.config;
  const rawHeaders = req.rawHeaders;
  if (rawHeaders.length > cfg.limits.maxHeaderCount * 2) {
    return refuse(plan, 'BRISK_HEADERS_TOO_LARGE', `more than ${cfg.limits.maxHeaderCount} request headers`);
  }

  // Split the target into path and query without building a URL object.
  let url = req.url!;
  let authority: string | undefined;
  if (url.charCodeAt(0) !== 47 /* '/' */) {
    const origin = absoluteFormOrigin(url);
    if (origin === -1) return refuse(plan, 'BRISK_BAD_REQUEST', 'the request target must be a path ("/…")');
    authority = url.slice(url.charCodeAt(4) === 58 /* 'http:' */ ? 7 : 8, origin);
    url = origin === url.length ? '/' : url.slice(origin);
  }
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q + 1);

  const out = plan.headers;
  const classifier = rt.headerClassifier;
  let host: string | undefined;
  let connection: string | undefined;
  let xff: string | undefined;
  let xfProto: string | undefined;
  let xfHost: string | undefined;
  let forwarded: string | undefined;
  let via: string | undefined;
  let requestId: string | undefined;
  let traceparent: string | null | undefined;
  let tracestate: string | undefined;
  let teTrailers = false;
  let grpcType = false;
  let grpcTimeout: string | undefined;
  /** Where a gRPC-Web content type sits in `out` (-1: none), for a route that translates it. */
  let webTypeIndex = -1;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const value = rawHeaders[i + 1]!;
    switch (classifier.kind(name)) {
      case HeaderKind.Pass:
        out.push(name, value);
        break;
      case HeaderKind.HopByHop:
        break;
      case HeaderKind.Host:
        // RFC 9112 §3.2: two Host lines are refused even when they agree; HTTP/2 may carry
        // both :authority and host, which then must agree.
        if (host !== undefined && (host !== value || req.httpVersionMajor !== 2)) return refuse(plan, 'BRISK_BAD_REQUEST', 'more than one Host header');
        host = value;
        break;
      case HeaderKind.Connection:
        connection = connection === undefined ? value : `${connection}, ${value}`;
        break;
      case HeaderKind.Te:
        if (value.toLowerCase().includes('trailers')) teTrailers = true;
        break;
      case HeaderKind.XForwardedFor:
        xff = xff === undefined ? value : `${xff}, ${value}`;
        break;
      case HeaderKind.XForwardedProto:
        xfProto ??= value;
        break;
      case HeaderKind.XForwardedHost:
        xfHost ??= value;
        break;
      case HeaderKind.Forwarded:
        forwarded = forwarded === undefined ? value : `${forwarded}, ${value}`;
        break;
      case HeaderKind.Via:
        via = via === undefined ? value : `${via}, ${value}`;
        break;
      case HeaderKind.IdempotencyKey:
        plan.hasIdempotencyKey = true;
        out.push(name, value);
        break;
      case HeaderKind.RequestId:
        if (requestId === undefined && isAcceptableRequestId(value)) requestId = value;
        break;
      case HeaderKind.TraceParent:
        // Two traceparent lines make it invalid (W3C Trace Context §3.2): null starts a new trace.
        traceparent = traceparent === undefined ? value : null;
        break;
      case HeaderKind.TraceState:
        tracestate = tracestate === undefined ? value : `${tracestate},${value}`;
        break;
      case HeaderKind.ContentType:
        if (isGrpcContentType(value)) grpcType = true;
        else if (webTypeIndex === -1 && grpcWebKind(value) !== 0) webTypeIndex = out.length + 1;
        out.push(name, value);
        break;
      case HeaderKind.GrpcTimeout:
        grpcTimeout ??= value;
        break;
      case HeaderKind.ContentLength:
        // node:http has already rejected invalid or conflicting values.
        plan.contentLength = Number(value);
        out.push(name, value);
        break;
      case HeaderKind.TransferEncoding:
        // The body is re-framed towards the target; node has already refused TE with CL.
        // Node also takes any coding list that ends in chunked (`gzip, chunked`) and chunked
        // from HTTP/1.0 clients, which a front proxy may frame differently: only a plain
        // `chunked` from an HTTP/1.1 client is forwarded (RFC 9112 §6.1).
        if (req.httpVersion !== '1.1' || value.toLowerCase() !== 'chunked') {
          return refuse(plan, 'BRISK_BAD_REQUEST', 'only "Transfer-Encoding: chunked" from an HTTP/1.1 client is accepted');
        }
        plan.chunked = true;
        break;
    }
  }
  // HTTP/2 has no Transfer-Encoding: a body of unknown length is one whose HEADERS frame did
  // not end the stream (clients streaming an upload send no Content-Length). Without this
  // the body would be dropped; it is forwarded chunked, like an HTTP/1.1 chunked body.
  if (plan.contentLength === -1 && isHttp2Request(req) && !req.stream.endAfterHeaders) plan.chunked = true;
  // gRPC runs over HTTP/2 only (gRPC-Web, below, over either).
  if (grpcType && isHttp2Request(req)) plan.grpc = true;
  plan.requestId = requestId ??= randomUuid();
  if (classifier.traceContext) beginTrace(plan, traceparent, tracestate, cfg.tracing.sampleRatio);
  // RFC 9112 §3.2: an absolute-form target names the host; one that disagrees with the
  // Host header is refused rather than routed by one and read by the target as the other.
  if (authority !== undefined) {
    if (host === undefined) host = authority;
    else if (authority.toLowerCase() !== host.toLowerCase()) return refuse(plan, 'BRISK_BAD_REQUEST', 'the absolute request target names another host than the Host header');
  }
  if (host === undefined) {
    if (req.httpVersion === '1.1') return refuse(plan, 'BRISK_BAD_REQUEST', 'an HTTP/1.1 request needs a Host header');
  } else if (!VALID_HOST.test(host)) {
    // The host is quoted into `Forwarded`; a `"` in it could forge a `for=` element.
    return refuse(plan, 'BRISK_BAD_REQUEST', 'the Host header is not a valid host[:port]');
  }

  const match = rt.router.match(req.method!, host, path, query, rt.routesReadHeaders ? req.headers : EMPTY_HEADERS);
  if (match === null) return refuse(plan, 'BRISK_ROUTE_NOT_FOUND', `no route for ${req.method} ${path}`);
  const route = match.route;
  plan.route = route;
  // Undefined for an aggregate route: its parts name their own upstreams.
  const upstream = rt.upstreamOfRoute[route.config.index];
  plan.upstream = upstream ?? null;

  if (webTypeIndex !== -1 && route.config.grpcWeb === true) {
    translateGrpcWeb(plan, out, webTypeIndex);
    teTrailers = true;
  }
  // A gRPC call's deadline is the client's `grpc-timeout` (an invalid one is dropped); anything else passes it on.
  if (grpcTimeout !== undefined) {
    if (plan.grpc) plan.grpcTimeoutMs = parseGrpcTimeout(grpcTimeout) ?? -1;
    else out.push('grpc-timeout', grpcTimeout);
  }

  const maxBody = route.config.maxBodySize;
  if (maxBody > 0 && plan.contentLength > maxBody) {
    return refuse(plan, 'BRISK_BODY_TOO_LARGE', `the request body (${plan.contentLength} bytes) exceeds the ${maxBody}-byte limit of route "${route.name}"`);
  }


  if (connection !== undefined) {
    const listed = connectionListedNames(connection);
    if (listed !== null) removeNamed(out, listed);
  }

  // Forwarding headers: from a trusted proxy the chain is extended, from anyone else replaced.
  // HTTP/2's req.socket is a guarded proxy; the session's TLS socket is the real peer.
  const socket = (isHttp2Request(req) ? req.stream.session?.socket : req.socket) as unknown as TrackedSocket;
  let trusted = socket[kTrusted];
  if (socket[kTrustedBy] !== rt.trust) {
    trusted = socket[kTrusted] = rt.trust.trusts(socket.remoteAddress);
    socket[kTrustedBy] = rt.trust;
  }
  const peer = unmapIPv4(socket.remoteAddress ?? '');
  plan.clientIp = trusted && xff !== undefined ? clientFromChain(xff, peer, rt) : peer;
  const proto = socket.encrypted === true ? 'https' : 'http';
  // A chain of proxies lists the client's scheme first.
  plan.scheme = trusted && xfProto !== undefined ? (/^\s*https\s*(,|$)/i.test(xfProto) ? 'https' : 'http') : proto;
  // With `hostHeader: target` the value is filled in per try, once the target is known.
  const hostForUpstream = upstream?.config.hostHeader === 'target' ? '' : host;
  if (hostForUpstream !== undefined) {
    plan.hostIndex = out.length + 1;
    out.push('host', hostForUpstream);
  }
  out.push('x-forwarded-for', trusted && xff !== undefined ? `${xff}, ${peer}` : peer, 'x-forwarded-proto', trusted && xfProto !== undefined ? xfProto : proto);
  const clientHost = trusted && xfHost !== undefined ? xfHost : host;
  if (clientHost !== undefined) out.push('x-forwarded-host', clientHost);
  const node = host === undefined ? `for=${forwardedNode(peer)};proto=${proto}` : `for=${forwardedNode(peer)};proto=${proto};host="${host}"`;
  out.push('forwarded', trusted && forwarded !== undefined ? `${forwarded}, ${node}` : node);
  const pseudonym = cfg.proxy.via;
  if (pseudonym !== false) {
    const hop = `${req.httpVersion === '2.0' ? '2' : req.httpVersion} ${pseudonym}`;
    out.push('via', via === undefined ? hop : `${via}, ${hop}`);
  } else if (via !== undefined) {
    out.push('via', via);
  }
  out.push(cfg.proxy.requestIdHeader, requestId);
  if (teTrailers) out.push('te', 'trailers');
  const params = match.params;
  plan.params = params;
  plan.path = path;
  plan.query = query;
  if (route.requestHeaderEdits !== null) route.requestHeaderEdits.apply(out, params, requestId);
  if (plan.traceId !== undefined) {
    // After the route's header edits, which may shift positions. Filled per try (Exchange.launch, UpgradeProxy.connect) with the try's own span id.
    plan.traceparentIndex = out.length + 1;
    out.push('traceparent', '');
    if (plan.tracestate !== null) out.push('tracestate', plan.tracestate);
  }
  const deadlineHeader = cfg.proxy.deadlineHeader;
  const hasDeadline = upstream !== undefined && ((route.config.timeouts ?? upstream.config.timeouts).totalMs > 0 || plan.grpcTimeoutMs >= 0);
  if (deadlineHeader !== false && hasDeadline) {
    plan.deadlineIndex = out.length + 1;
    out.push(deadlineHeader, '');
  }
  if (plan.grpc && hasDeadline) {
    plan.grpcTimeoutIndex = out.length + 1;
    out.push('grpc-timeout', '');
  }
  const rewritten = route.rewritePath === null ? path : route.rewritePath(path, params);
  plan.pathAndQuery = query === '' ? rewritten : `${rewritten}?${query}`;
  return true;
}

/**
 * Picks the target for the first try: the one a sticky cookie names, or the balancer's
 * choice (by the request's hash key for consistent hashing). False (with `failCode`)
 * when no target can take the request.
 */
export function pickTarget(plan: ForwardPlan, req: ClientRequest): boolean {
  const upstream = plan.upstream;
  if (upstream === null) return refuse(plan, 'BRISK_BAD_REQUEST', `route "${plan.route!.name}" answers by itself (an aggregate or a redirect); it takes no connection upgrade`);
  const rawHeaders = req.rawHeaders;
  if (upstream.hash !== null) plan.hashKey = upstream.hashKeyOf(rawHeaders, plan.path, plan.clientIp);
  let target = upstream.sticky === null ? null : upstream.stickyTarget(rawHeaders);
  if (target === null) {
    target = upstream.pick(null, plan.hashKey);
    if (target !== null && upstream.sticky !== null) plan.stickyCookie = upstream.sticky.setCookieHeader(target);
  }
  if (target === null) return refuse(plan, 'BRISK_NO_HEALTHY_TARGET', `upstream "${upstream.name}" has no target that can take the request`);
  plan.target = target;
  return true;
}

/**
 * The client behind a chain of trusted proxies: walking X-Forwarded-For from the right,
 * the first address that is not a trusted proxy (the left-most when all are).
 */
function clientFromChain(xff: string, peer: string, rt: Runtime): string {
  let candidate = peer;
  let end = xff.length;
  while (end > 0) {
    const comma = xff.lastIndexOf(',', end - 1);
    const hop = unmapIPv4(xff.slice(comma + 1, end).trim());
    if (hop !== '') {
      candidate = hop;
      if (!rt.trust.trusts(hop)) return hop;
    }
    end = comma === -1 ? 0 : comma;
  }
  return candidate;
}

/**
 * A gRPC-Web request on a route that translates it: the service is sent gRPC's content
 * type; a `-text` body is decoded on its way (`Exchange.start`), so its length changes and
 * it goes without `Content-Length`.
 */
function translateGrpcWeb(plan: ForwardPlan, out: string[], typeIndex: number): void {
  const kind = grpcWebKind(out[typeIndex]!);
  plan.grpc = true;
  plan.grpcWeb = kind;
  out[typeIndex] = grpcContentTypeOf(out[typeIndex]!);
  if (kind === GrpcWeb.Text && plan.contentLength >= 0) {
    for (let i = 0; i < out.length; i += 2) {
      if (out[i]!.length === 14 && out[i]!.toLowerCase() === 'content-length') {
        out.splice(i, 2);
        break;
      }
    }
    plan.contentLength = -1;
    plan.chunked = true;
  }
}

function refuse(plan: ForwardPlan, code: ErrorCode, message: string): false {
  plan.failCode = code;
  plan.failMessage = message;
  return false;
}

/**
 * The proxy's entry point for plain requests: plans the forward, then runs the exchange
 * (tries, retries, hedges) that streams the answer back.
 */
export function createProxyHandler(state: ProxyState): (req: ClientRequest, res: ClientResponse) => void {
  return function handleProxyRequest(req, res) {
    // Pipelined behind an answer that closes the connection: not processed (see closeConnectionAfter).
    if (!isHttp2Request(req) && (req.socket as unknown as TrackedSocket)[kClosing] === true) return;
    const rt = state.runtime;
    const ex = new Exchange(req, res, state, rt);
    const metrics = state.metrics;
    if (metrics != null) metrics.inFlight++;
    if (!planForward(req, rt, ex)) {
      ex.fail(ex.failCode!, ex.failMessage);
      return;
    }
    if (state.shedder !== null) {
      const refusal = shedRefusal(state.shedder, ex, req);
      if (refusal !== null) {
        ex.answer(refusal);
        return;
      }
    }
    const pipeline = rt.pipelineOfRoute[ex.route!.config.index];
    if (pipeline === null || pipeline === undefined) {
      forward(ex, req);
      return;
    }
    // A client that leaves while a middleware waits (a concurrency queue, an auth service)
    // ends the request at once, so that its place is not held for nothing.
    ex.watchClient();
    const ctx = new PipelineContext(ex, req);
    const answer = runPipeline(pipeline, ctx);
    if (answer === null) forward(ex, req);
    else if (answer instanceof Promise) {
      answer.then(
        (a) => (a === null ? forward(ex, req) : ex.answer(a)),
        (err: unknown) => {
          state.logger.error({ err, requestId: ex.requestId, route: ex.route!.name }, 'route pipeline failed');
          ex.fail('BRISK_INTERNAL', 'the request could not be processed; see the gateway log');
        },
      );
    } else ex.answer(answer);
  };
}

/**
 * The gateway-wide shedder's verdict on a planned request, by its route's priority (or the
 * request's own, where `overload.priorityHeader` allows it): a ready-made 503, or null.
 * Checked before the route's middlewares: an overloaded gateway must not spend a token
 * check on a request it will refuse.
 */
export function shedRefusal(shedder: LoadShedder, plan: ForwardPlan, req: ClientRequest): Answer | null {
  const routePriority = priorityOf(plan.route!.config.priority ?? 'normal');
  const header = shedder.config.priorityHeader;
  return shedder.check(header === null ? routePriority : requestPriority(req.rawHeaders, routePriority, header));
}

function forward(ex: Exchange, req: ClientRequest): void {
  if (ex.isDone) return; // the client left while the pipeline was waiting
  const terminal = ex.rt.terminalOfRoute[ex.route!.config.index];
  if (terminal !== null && terminal !== undefined) {
    // The route answers by itself (an aggregate): a client that leaves ends the request at once.
    ex.watchClient();
    terminal.run(ex);
    return;
  }
  if (!ex.admit()) return;
  if (!pickTarget(ex, req)) {
    ex.fail(ex.failCode!, ex.failMessage);
    return;
  }
  ex.start();
}

const EMPTY_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** RFC 3986 `host [":" port]` characters (reg-name, IPv4, bracketed IPv6); empty is allowed. */
const VALID_HOST = /^[A-Za-z0-9\-._~!$&'()*+,;=:[\]%]*$/;

/** For an absolute-form target (`http://host/path`), the index where its path starts; -1 if not absolute. */
function absoluteFormOrigin(url: string): number {
  const scheme = url.startsWith('http://') ? 7 : url.startsWith('https://') ? 8 : -1;
  if (scheme === -1) return -1;
  const slash = url.indexOf('/', scheme);
  return slash === -1 ? url.length : slash;
}

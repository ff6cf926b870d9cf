import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Dispatcher } from 'undici';
import { BriskError, ERROR_CODES, errorBody, type ErrorCode } from '../core/errors.js';
import type { Runtime } from '../gateway/runtime.js';
import type { Logger } from '../observability/logger.js';
import type { CompiledRoute, RouteParams } from '../router/index.js';
import type { Target } from '../upstreams/target.js';
import type { Upstream } from '../upstreams/upstream.js';
import { connectionListedNames, forwardedNode, HeaderKind, isAcceptableRequestId, isResponseHopByHop, removeNamed } from './headers.js';
import { unmapIPv4, type TrustedProxies } from './trust.js';
import { upstreamErrorCode, upstreamErrorMessage } from './upstream-errors.js';

/** A request as either server gives it: node:http, or the HTTP/2 compatibility API. */
export type ClientRequest = IncomingMessage | Http2ServerRequest;
export type ClientResponse = ServerResponse | Http2ServerResponse;

/** What the proxy reads from the gateway on every request. */
export interface ProxyState {
  /** The routing table in force; swapped whole on reload. */
  runtime: Runtime;
  /** True while shutting down: answers carry `Connection: close`. */
  draining: boolean;
  readonly logger: Logger;
  /** Null when the access log is off. */
  accessLog: Logger | null;
}

const kTrusted = Symbol('brisk.trustedPeer');
const kTrustedBy = Symbol('brisk.trustedPeerBy');
/** A client socket remembers whether its peer is trusted, for the config version that decided. */
type TrackedSocket = { [kTrusted]?: boolean; [kTrustedBy]?: TrustedProxies; remoteAddress?: string | undefined; encrypted?: boolean };

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
  /** Path and query for the target. */
  upstreamPath = '';
  /** -1: no Content-Length. */
  contentLength = -1;
  chunked = false;
  /** Why the request cannot be forwarded, when it cannot. */
  failCode: ErrorCode | null = null;
  failMessage = '';
}

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
  let teTrailers = false;
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
      case HeaderKind.RequestId:
        if (requestId === undefined && isAcceptableRequestId(value)) requestId = value;
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
  plan.requestId = requestId ??= randomUUID();
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
  const upstream = rt.upstreamOfRoute[route.config.index]!;
  plan.upstream = upstream;

  const maxBody = route.config.maxBodySize;
  if (maxBody > 0 && plan.contentLength > maxBody) {
    return refuse(plan, 'BRISK_BODY_TOO_LARGE', `the request body (${plan.contentLength} bytes) exceeds the ${maxBody}-byte limit of route "${route.name}"`);
  }

  const target = upstream.pick(null, null);
  if (target === null) return refuse(plan, 'BRISK_NO_HEALTHY_TARGET', `upstream "${upstream.name}" has no target that can take the request`);
  plan.target = target;

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
  const proto = socket.encrypted === true ? 'https' : 'http';
  const hostForUpstream = upstream.config.hostHeader === 'target' ? target.hostHeader : host;
  if (hostForUpstream !== undefined) out.push('host', hostForUpstream);
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
  if (route.requestHeaderEdits !== null) route.requestHeaderEdits.apply(out, params, requestId);
  plan.upstreamPath = rewrittenPath(route, params, path, query, target.basePath);
  return true;
}

function refuse(plan: ForwardPlan, code: ErrorCode, message: string): false {
  plan.failCode = code;
  plan.failMessage = message;
  return false;
}

/**
 * The proxy's entry point for plain requests: plans the forward, then streams the exchange.
 * One `Exchange` per request is the only allocation it needs beyond the header list; it is
 * at once the undici dispatch handler and the request's context.
 */
export function createProxyHandler(state: ProxyState): (req: ClientRequest, res: ClientResponse) => void {
  return function handleProxyRequest(req, res) {
    const rt = state.runtime;
    const ex = new Exchange(req, res, state, rt);
    if (!planForward(req, rt, ex)) {
      ex.fail(ex.failCode!, ex.failMessage);
      return;
    }
    const hasBody = ex.chunked || ex.contentLength > 0;
    const maxBody = ex.route!.config.maxBodySize;
    const body = hasBody ? (maxBody > 0 && ex.contentLength === -1 ? ex.limitedBody(maxBody) : req) : null;
    ex.start(body as Dispatcher.DispatchOptions['body']);
  };
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

function rewrittenPath(route: CompiledRoute, params: RouteParams | null, path: string, query: string, basePath: string): string {
  const rewritten = route.rewritePath === null ? path : route.rewritePath(path, params);
  const withBase = basePath === '' ? rewritten : basePath + rewritten;
  return query === '' ? withBase : `${withBase}?${query}`;
}

/**
 * One request's journey: the context the pipeline reads and the handler undici drives.
 * Undici's callback-style handler is used (not its request() API) because it hands over
 * raw headers and chunks with no stream or object in between.
 */
class Exchange extends ForwardPlan implements Dispatcher.DispatchHandler {
  private readonly started = performance.now();
  private status = 0;
  private bytesOut = 0;
  private errorCode: ErrorCode | null = null;
  private abortUpstream: ((err: Error) => void) | null = null;
  private done = false;
  private dispatched = false;
  private clientGone = false;
  private totalTimer: NodeJS.Timeout | null = null;
  /** Set when the body is being counted against a limit and went past it. */
  private bodyTooLarge = false;

  constructor(
    readonly req: ClientRequest,
    readonly res: ClientResponse,
    private readonly state: ProxyState,
    private readonly rt: Runtime,
  ) {
    super();
  }

  /** Sends the planned request to the target picked. */
  start(body: Dispatcher.DispatchOptions['body']): void {
    const target = this.target!;
    const timeouts = this.route!.config.timeouts ?? this.upstream!.config.timeouts;
    target.inFlight++;
    this.dispatched = true;
    this.res.once('close', () => this.onClientClose());
    if (timeouts.totalMs > 0) {
      this.totalTimer = setTimeout(() => this.abort(new BriskError('BRISK_UPSTREAM_TOTAL_TIMEOUT', 'total timeout')), timeouts.totalMs);
    }
    const options: Dispatcher.DispatchOptions = {
      path: this.upstreamPath,
      method: this.req.method as Dispatcher.HttpMethod,
      headers: this.headers,
      body: body as Dispatcher.DispatchOptions['body'],
    };
    if (this.route!.config.timeouts !== undefined) {
      options.headersTimeout = timeouts.responseMs;
      options.bodyTimeout = timeouts.idleMs;
    }
    try {
      target.pool.dispatch(options, this);
    } catch (err) {
      this.onError(err as Error);
    }
  }

  /**
   * A body of unknown length (chunked), counted against the route's limit as it streams.
   * An async generator keeps the stream's backpressure and starts reading only when undici
   * starts sending, so no chunk is read before anyone is there to forward it.
   */
  async *limitedBody(max: number): AsyncGenerator<Buffer> {
    let received = 0;
    // destroyOnReturn: false — leaving a plain `for await` early destroys the request, which
    // cuts the client connection before the 413 is written (and nulls `req.socket`).
    for await (const chunk of this.req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      received += chunk.length;
      if (received > max) {
        this.bodyTooLarge = true;
        throw new BriskError('BRISK_BODY_TOO_LARGE', `the request body exceeds the ${max}-byte limit of route "${this.route!.name}"`);
      }
      yield chunk;
    }
  }

  private abort(err: Error): void {
    if (this.done) return;
    if (this.abortUpstream !== null) this.abortUpstream(err);
    else this.onError(err);
  }

  private onClientClose(): void {
    if (this.done) return;
    this.clientGone = true;
    this.abort(new BriskError('BRISK_BAD_REQUEST', 'client closed the connection'));
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.done) {
      abort();
      return;
    }
    this.abortUpstream = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    // Interim answers (100, 103) are not passed on: node:http already answered the
    // client's Expect itself.
    if (statusCode < 200) return true;
    const res = this.res;
    if (this.done || res.destroyed) return false;
    const out: string[] = [];
    let connection: string | undefined;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toString('latin1');
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
    if (this.state.draining) (res as ServerResponse).shouldKeepAlive = false;
    this.status = statusCode;
    try {
      if (isHttp2(res)) writeHttp2Head(res, statusCode, out);
      else res.writeHead(statusCode, statusText || undefined, out);
    } catch (err) {
      this.abort(new BriskError('BRISK_UPSTREAM_BAD_RESPONSE', 'invalid response head', { cause: err }));
      return false;
    }
    this.resume = resume;
    return true;
  }

  private resume: (() => void) | null = null;
  private readonly onDrain = (): void => {
    this.resume?.();
  };

  onData(chunk: Buffer): boolean {
    this.bytesOut += chunk.length;
    if ((this.res as ServerResponse).write(chunk)) return true;
    this.res.once('drain', this.onDrain);
    return false;
  }

  onComplete(trailers: string[] | Buffer[] | null): void {
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
    this.finish();
  }

  onError(err: Error): void {
    if (this.done) return;
    const code = this.bodyTooLarge ? 'BRISK_BODY_TOO_LARGE' : this.clientGone ? null : upstreamErrorCode(err);
    if (code === null) {
      this.status = 499;
      this.finish();
      return;
    }
    this.errorCode = code;
    const target = this.target;
    if (target !== null && ERROR_CODES[code].status >= 500) target.failures++;
    if (!this.res.headersSent) {
      const message =
        err instanceof BriskError && code === 'BRISK_BODY_TOO_LARGE' ? err.message : upstreamErrorMessage(code, this.upstream?.name ?? '', target?.origin ?? '');
      this.respondError(code, message);
    } else {
      // Bytes already reached the client: the only honest signal left is a cut connection.
      this.status = this.status || 502;
      this.res.destroy();
    }
    if (code === 'BRISK_INTERNAL') this.state.logger.error({ err, requestId: this.requestId }, 'proxy error');
    this.finish();
  }

  /** Answers with a Brisk error before anything was sent upstream. */
  fail(code: ErrorCode, message: string): void {
    this.errorCode = code;
    this.respondError(code, message);
    this.finish();
  }

  private respondError(code: ErrorCode, message: string): void {
    const res = this.res;
    const status = ERROR_CODES[code].status;
    this.status = status;
    if (res.headersSent || res.destroyed) return;
    const body = errorBody(code, message, this.requestId);
    const headers: string[] = ['content-type', 'application/json; charset=utf-8', 'content-length', String(Buffer.byteLength(body))];
    if (this.requestId !== undefined) headers.push(this.rt.config.proxy.requestIdHeader, this.requestId);
    if (status === 503) headers.push('retry-after', '1');
    // A request whose body was not read cannot leave the connection reusable; nor can a
    // malformed one.
    const req = this.req;
    if (!isHttp2(res) && (this.state.draining || code === 'BRISK_BAD_REQUEST' || !req.complete)) {
      (res as ServerResponse).shouldKeepAlive = false;
    }
    try {
      if (isHttp2(res)) writeHttp2Head(res, status, headers);
      else res.writeHead(status, headers);
      res.end(body);
    } catch {
      res.destroy();
    }
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.totalTimer !== null) clearTimeout(this.totalTimer);
    const target = this.target;
    if (target !== null && this.dispatched) {
      target.inFlight--;
      target.completed++;
    }
    const log = this.state.accessLog;
    if (log !== null) {
      const req = this.req;
      log.info({
        requestId: this.requestId,
        method: req.method,
        path: req.url,
        route: this.route?.name,
        upstream: this.upstream?.name,
        target: target?.origin,
        status: this.status,
        durationMs: Math.round((performance.now() - this.started) * 1000) / 1000,
        bytesOut: this.bytesOut,
        // Null once node has destroyed the request stream (a pipeline or iterator cleanup).
        remote: req.socket?.remoteAddress,
        error: this.errorCode ?? undefined,
      });
    }
  }
}

function isHttp2(res: ClientResponse): res is Http2ServerResponse {
  return 'stream' in res;
}

function isHttp2Request(req: ClientRequest): req is Http2ServerRequest {
  return 'stream' in req;
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

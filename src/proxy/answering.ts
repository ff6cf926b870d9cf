import { validateHeaderName, validateHeaderValue, type ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';
import { ERROR_CODES, errorBody, type ErrorCode } from '../core/errors.js';
import { connectionListedNames, isResponseHopByHop, removeNamed } from '../core/hop-by-hop.js';
import { isHttp2Response, type ClientRequest, type ClientResponse } from '../core/http.js';
import type { Answer } from '../core/middleware.js';
import { grpcStatusIn, grpcStatusOf as grpcStatusOfCode } from '../core/grpc.js';
import { closeConnectionAfter, ForwardPlan, type ProxyState } from './context.js';
import { EncodedBody } from './encoded-body.js';
import { answerGrpcError, answerGrpcWebError, endGrpcWithStatus, GrpcFraming, respondTrailersOnly } from './grpc.js';
import { Base64Encoder, GrpcWeb, grpcWebContentTypeOf, trailerFrame } from './grpc-web.js';
import type { Runtime } from './runtime.js';

/**
 * The client's side of an exchange: everything that writes to the client's response —
 * an answer the gateway made (a middleware's refusal, a fallback, a cache hit), a Brisk
 * error, and the head, body and trailers of a target's answer. The exchange
 * (`exchange.ts`) decides what is written; this class knows how, for HTTP/1.1 and HTTP/2.
 */
export class AnsweringExchange extends ForwardPlan {
  readonly started = performance.now();
  /** The status the client got (499: it left first; 0: nothing yet). */
  status = 0;
  /** Body bytes sent to the client. */
  bytesOut = 0;
  errorCode: ErrorCode | null = null;
  /** The target's whole body reached the client (for the observer). */
  protected bodyComplete = false;
  /** The status the breaker is told when an observer answered in the target's place (0: the client's status). */
  protected breakerStatus = 0;
  /** The gRPC status the client got (from the target's trailers or head, or a Brisk error); -1: none, or not gRPC. */
  grpcStatus = -1;
  /** A gRPC answer's message framing, followed while its body streams (null: not gRPC). */
  private framing: GrpcFraming | null = null;
  /** The target's answer was trailers-only (gRPC): its one HEADERS frame ended the stream. */
  private trailersOnly = false;
  /** A gRPC-Web `-text` answer's body is base64, 3-byte aligned across chunks (null: not such an answer). */
  private webEncoder: Base64Encoder | null = null;
  /** The body on its way through the transform's encoder (compression); null when it goes as it is. */
  private encoded: EncodedBody | null = null;
  /** A small body collected to be encoded at once, with the head that waits for it. */
  private whole: { status: number; statusText: string; headers: string[]; encode: (body: Buffer) => Buffer; chunks: Buffer[] } | null = null;

  constructor(
    readonly req: ClientRequest,
    readonly res: ClientResponse,
    readonly state: ProxyState,
    readonly rt: Runtime,
  ) {
    super();
  }

  /**
   * Writes an answer the gateway made itself. `then` runs once it has been handed to the
   * client: at once, or when an encoder (compression) has sent the last of it.
   */
  protected writeAnswer(a: Answer, then?: () => void): void {
    const res = this.res;
    this.status = a.status;
    let body: string | Buffer = a.body ?? '';
    let length = Buffer.byteLength(body);
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
    // Only answers with a body of their own: a refusal (`code`) is a small JSON error.
    if (typeof body === 'string' && this.transform !== null) body = Buffer.from(body);
    const encoding =
      this.transform === null || a.code !== undefined
        ? null
        : this.transform.begin({ status: a.status, headers, method: this.req.method!, requestHeaders: this.req.rawHeaders, body: body as Buffer, stored: a.proxied === true && Buffer.isBuffer(a.body) });
    if (encoding?.kind === 'ready' || encoding?.kind === 'whole') {
      body = encoding.kind === 'ready' ? encoding.body : encoding.encode(body as Buffer);
      length = body.length;
      headers.push('content-length', String(length));
    }
    try {
      if (isHttp2Response(res)) writeHttp2Head(res, a.status, headers);
      else {
        if (this.state.draining || this.bodyUnread()) closeConnectionAfter(this.req, res);
        res.writeHead(a.status, headers);
      }
      if (encoding?.kind === 'stream') {
        this.encoded = new EncodedBody(res, encoding.stream, null, (n) => (this.bytesOut += n));
        this.encoded.end(then, body as Buffer);
        return;
      }
      res.end(body);
      // HEAD answers carry no body on the wire.
      if (this.req.method !== 'HEAD') this.bytesOut += length;
    } catch {
      res.destroy();
    }
    then?.();
  }

  /** Answers with a Brisk error (nothing, or nothing usable, came from a target). */
  protected respondError(code: ErrorCode, message: string, extraHeaders?: readonly string[], statusOverride?: number): void {
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
    if (this.grpc && (this.grpcWeb !== GrpcWeb.None || isHttp2Response(res))) {
      this.respondGrpcError(res, code, message, extraHeaders);
      return;
    }
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
    if (!isHttp2Response(res) && (this.state.draining || code === 'BRISK_BAD_REQUEST' || this.bodyUnread())) closeConnectionAfter(this.req, res);
    try {
      if (isHttp2Response(res)) writeHttp2Head(res, status, headers);
      else res.writeHead(status, headers);
      res.end(body);
      if (this.req.method !== 'HEAD') this.bytesOut += length;
    } catch {
      res.destroy();
    }
  }

  /**
   * A Brisk error for a gRPC client: a trailers-only answer with the status the error maps
   * to (`core/grpc.ts`); after the head, trailers when the body is between messages, else
   * a reset. The HTTP status recorded stays the error's own, so dashboards count it.
   */
  private respondGrpcError(res: ClientResponse, code: ErrorCode, message: string, extraHeaders?: readonly string[]): void {
    this.grpcStatus = grpcStatusOfCode(code);
    if (res.headersSent) {
      if (!this.endGrpcStream(code, message)) res.destroy();
      return;
    }
    const extra: string[] = [];
    if (this.requestId !== undefined) extra.push(this.rt.config.proxy.requestIdHeader, this.requestId);
    if (extraHeaders !== undefined) extra.push(...extraHeaders);
    if (this.responseHeaders !== null) extra.push(...this.responseHeaders);
    if (this.grpcWeb !== GrpcWeb.None) answerGrpcWebError(res, code, message, extra, grpcWebContentTypeOf(undefined, this.grpcWeb));
    else if (!answerGrpcError(res as Http2ServerResponse, code, message, extra)) res.destroy();
  }

  /** Ends a gRPC stream whose head was sent with a status in trailers; false when only a reset is honest. */
  protected endGrpcStream(code: ErrorCode, message: string): boolean {
    const res = this.res;
    if (!this.grpc || this.grpcWeb !== GrpcWeb.None || !isHttp2Response(res) || this.trailersOnly) return false;
    if (!endGrpcWithStatus(res, this.framing, code, message)) return false;
    this.grpcStatus = grpcStatusOfCode(code);
    return true;
  }

  /**
   * A bodiless request counts as incomplete until node has read past its head, so only a
   * request that announced a body and has not delivered it all is treated as unfinished.
   */
  private bodyUnread(): boolean {
    return (this.chunked || this.contentLength > 0) && !this.req.complete;
  }

  /**
   * Writes the head of the target's answer: hop-by-hop fields dropped, the gateway's own
   * added (Via, request id, the route's edits, a sticky cookie, middleware headers). False
   * when node refused the head (an invalid field from the target).
   */
  protected writeUpstreamHead(statusCode: number, rawHeaders: Buffer[], statusText: string): boolean {
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
    if (this.state.draining && !isHttp2Response(res)) closeConnectionAfter(this.req, res);
    this.status = statusCode;
    if (this.grpcWeb !== GrpcWeb.None) this.webHead(rawHeaders, out);
    else if (this.grpc && isHttp2Response(res)) {
      this.grpcStatus = grpcStatusIn(rawHeaders);
      // A trailers-only answer (its status in the one HEADERS frame) stays one: gRPC clients
      // read a status in headers followed by an empty DATA frame as headers without a status.
      if (this.grpcStatus !== -1) {
        this.trailersOnly = true;
        return respondTrailersOnly(res, { ...http2Headers(out), ':status': statusCode });
      }
      this.framing = new GrpcFraming();
    } else if (this.transform !== null) {
      const encoding = this.transform.begin({ status: statusCode, headers: out, method: this.req.method!, requestHeaders: this.req.rawHeaders, body: null, stored: false });
      if (encoding?.kind === 'stream') this.encoded = new EncodedBody(res, encoding.stream, encoding.flush, (n) => (this.bytesOut += n));
      else if (encoding?.kind === 'whole') {
        // The head waits for the body, to carry the encoded length; checked now, as writeHead would.
        if (!validHead(out)) {
          this.state.logger.warn({ requestId: this.requestId, target: this.target?.origin }, 'invalid response head from the target');
          return false;
        }
        this.whole = { status: statusCode, statusText, headers: out, encode: encoding.encode, chunks: [] };
        return true;
      }
    }
    try {
      if (isHttp2Response(res)) writeHttp2Head(res, statusCode, out);
      else {
        res.writeHead(statusCode, statusText || undefined, out);
        // node:http keeps a head in its buffer until the first body chunk. A streamed answer
        // whose body starts later (an event stream opening, a long poll that flushed its
        // head) must not wait for it: the head goes out on the next turn unless the body
        // followed in this one (the usual case: one write for both). HTTP/2 sends at once.
        if (res.chunkedEncoding) setImmediate(flushHeadIfIdle, this);
      }
    } catch (err) {
      this.state.logger.warn({ err, requestId: this.requestId, target: this.target?.origin }, 'invalid response head from the target');
      return false;
    }
    // A gRPC-Web answer with its status in the head has nothing more to come.
    if (this.trailersOnly) res.end();
    return true;
  }

  /**
   * The head of a gRPC-Web answer: the service's content type in the client's form, no
   * `Content-Length` (the trailers will follow in the body); a status in the head means a
   * trailers-only answer, which gRPC-Web clients read from headers as they are.
   */
  private webHead(rawHeaders: Buffer[], out: string[]): void {
    this.grpcStatus = grpcStatusIn(rawHeaders);
    this.trailersOnly = this.grpcStatus !== -1;
    for (let i = out.length - 2; i >= 0; i -= 2) {
      const name = out[i]!.toLowerCase();
      if (name === 'content-type') out[i + 1] = grpcWebContentTypeOf(out[i + 1], this.grpcWeb);
      else if (name === 'content-length') out.splice(i, 2);
    }
    if (this.grpcWeb === GrpcWeb.Text && !this.trailersOnly) this.webEncoder = new Base64Encoder();
  }

  /**
   * Passes an interim answer on (RFC 9110 §15.2): `103 Early Hints` with its fields, `102
   * Processing`. `100 Continue` is node's own business (it answers `Expect` itself), and
   * other codes have no API in node.
   */
  protected writeInterim(status: number, rawHeaders: Buffer[]): void {
    const res = this.res;
    if (res.headersSent || res.destroyed) return;
    try {
      if (status === 103) {
        const hints: Record<string, string | string[]> = {};
        for (let i = 0; i < rawHeaders.length; i += 2) {
          const name = rawHeaders[i]!.toString('latin1').toLowerCase();
          if (isResponseHopByHop(name)) continue;
          const value = rawHeaders[i + 1]!.toString('latin1');
          const prev = hints[name];
          hints[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
        }
        // node checks each Link value on its own: a line listing several (`<a>; rel=preload, <b>; …`) is split.
        const link = hints['link'];
        if (link !== undefined) hints['link'] = (Array.isArray(link) ? link : [link]).flatMap((v) => v.split(/,\s*(?=<)/));
        if (link !== undefined) res.writeEarlyHints(hints as { link: string[] });
      } else if (status === 102 && !isHttp2Response(res)) res.writeProcessing();
    } catch {
      // An interim answer the client cannot take is not worth failing the request for.
    }
  }

  /** Forwards a body chunk; false asks undici to pause until the client drains. */
  protected writeData(chunk: Buffer, resume: () => void): boolean {
    if (this.trailersOnly) return true;
    // The observer (the cache) sees the target's own bytes, so it stores them as they came.
    if (this.observer !== null) this.observer.onData(chunk);
    if (this.encoded !== null) return this.encoded.write(chunk, resume);
    if (this.whole !== null) {
      this.whole.chunks.push(chunk);
      return true;
    }
    this.bytesOut += chunk.length;
    if (this.framing !== null) this.framing.push(chunk);
    const out = this.webEncoder === null ? chunk : this.webEncoder.push(chunk);
    if (out.length === 0 || (this.res as ServerResponse).write(out)) return true;
    this.res.once('drain', resume);
    return false;
  }

  /** Ends a gRPC-Web body with the trailers as its last message. */
  private endWebBody(trailers: Buffer[] | null): void {
    const res = this.res;
    try {
      (res as ServerResponse).end(webTrailers(trailers, this.webEncoder));
    } catch {
      res.destroy();
    }
    this.bodyComplete = true;
  }

  /**
   * Ends the body, with the target's trailers when it sent any. `then` runs once it has
   * been handed to the client: at once, or when the encoder has sent the last of it.
   */
  protected endBody(trailers: Buffer[] | null, then?: () => void): void {
    const res = this.res;
    if (this.trailersOnly) {
      this.bodyComplete = true;
      then?.();
      return;
    }
    if (this.grpc && trailers !== null) this.grpcStatus = grpcStatusIn(trailers);
    if (this.grpcWeb !== GrpcWeb.None) {
      this.endWebBody(trailers);
      then?.();
      return;
    }
    if (trailers !== null && trailers.length > 0) {
      const fields: Record<string, string> = {};
      for (let i = 0; i < trailers.length; i += 2) fields[trailers[i]!.toString('latin1').toLowerCase()] = trailers[i + 1]!.toString('latin1');
      try {
        res.addTrailers(fields);
      } catch {
        // Invalid trailers from the target are dropped rather than breaking a complete body.
      }
    }
    this.bodyComplete = true;
    if (this.encoded !== null) {
      this.encoded.end(then);
      return;
    }
    if (this.whole !== null) {
      // A body with a length carries no trailers on HTTP/1.1; a small compressed one is sent whole.
      const { status, statusText, headers, encode, chunks } = this.whole;
      this.whole = null;
      const body = encode(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
      headers.push('content-length', String(body.length));
      try {
        if (isHttp2Response(res)) writeHttp2Head(res, status, headers);
        else res.writeHead(status, statusText || undefined, headers);
        res.end(body);
        this.bytesOut += body.length;
      } catch (err) {
        this.state.logger.warn({ err, requestId: this.requestId }, 'the compressed answer could not be written');
        res.destroy();
      }
      then?.();
      return;
    }
    res.end();
    then?.();
  }
}

/** What `writeHead` would refuse, checked before a head is held back. */
function validHead(headers: readonly string[]): boolean {
  try {
    for (let i = 0; i < headers.length; i += 2) {
      validateHeaderName(headers[i]!);
      validateHeaderValue(headers[i]!, headers[i + 1]!);
    }
    return true;
  } catch {
    return false;
  }
}

/** gRPC-Web: the trailers become the last message of the body (base64 in `-text`). */
function webTrailers(trailers: Buffer[] | null, encoder: Base64Encoder | null): Buffer | string {
  const fields: string[] = [];
  for (let i = 0; trailers !== null && i < trailers.length; i += 2) fields.push(trailers[i]!.toString('latin1'), trailers[i + 1]!.toString('latin1'));
  const frame = trailerFrame(fields);
  return encoder === null ? frame : encoder.end() + frame.toString('base64');
}

function flushHeadIfIdle(ex: AnsweringExchange): void {
  const res = ex.res as ServerResponse;
  if (ex.bytesOut === 0 && !res.destroyed && !res.writableEnded) res.flushHeaders();
}

/** HTTP/2 responses take a header object; repeated names become arrays. */
function writeHttp2Head(res: Http2ServerResponse, status: number, flat: string[]): void {
  res.writeHead(status, http2Headers(flat));
}

function http2Headers(flat: string[]): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!.toLowerCase();
    const value = flat[i + 1]!;
    const prev = headers[name];
    headers[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return headers;
}

/**
 * One request on an HTTP/2 stream, driven through the same callbacks undici's dispatch
 * handlers take (`onConnect`, `onHeaders`, `onData`, `onComplete`, `onError`), so the
 * upstream call (`UpstreamTry`) is the same object whether its target speaks HTTP/1.1
 * through undici or HTTP/2 through `H2Pool`.
 */
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { Readable } from 'node:stream';
import { dispatchError, drained, type DispatchHandlerLike, type DispatchOptionsLike } from '../dispatch-contract.js';

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = http2.constants;

/** The handler an HTTP/2 request drives (the pools' shared dispatch contract). */
export type StreamHandler = DispatchHandlerLike;
/** What `dispatch` is given. */
export type StreamOptions = DispatchOptionsLike;
/** An error with a stable `code`, in undici's style. */
export const h2Error = dispatchError;

/**
 * Fields HTTP/2 forbids (RFC 9113 §8.2.2): node refuses a request carrying one. The proxy
 * drops hop-by-hop fields already; this also covers what a route's header edits may add.
 */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings']);

/**
 * The request's header object: the flat list folded (repeated names become arrays),
 * `host` turned into `:authority`, fields HTTP/2 forbids left out (`te` only as
 * `trailers`, which gRPC servers expect).
 */
export function h2RequestHeaders(options: StreamOptions, scheme: 'http' | 'https', defaultAuthority: string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ':method': options.method, ':path': options.path, ':scheme': scheme };
  let authority: string | undefined;
  const flat = Array.isArray(options.headers) ? (options.headers as string[]) : [];
  for (let i = 0; i < flat.length; i += 2) {
    const name = String(flat[i]).toLowerCase();
    const value = String(flat[i + 1]);
    if (name === 'host') {
      authority ??= value;
      continue;
    }
    if (CONNECTION_SPECIFIC.has(name) || name.charCodeAt(0) === 58 /* ':' */) continue;
    if (name === 'te' && value.trim().toLowerCase() !== 'trailers') continue;
    const prev = out[name];
    out[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [String(prev), value];
  }
  out[':authority'] = authority === undefined || authority === '' ? defaultAuthority : authority;
  return out;
}

/** A header object from node as a flat `[name, value, …]` Buffer list, pseudo-headers left out. */
export function flattenHeaders(headers: IncomingHttpHeaders): Buffer[] {
  const raw: Buffer[] = [];
  for (const name of Object.keys(headers)) {
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    const value = headers[name];
    if (value === undefined) continue;
    const key = Buffer.from(name, 'latin1');
    if (Array.isArray(value)) for (const v of value) raw.push(key, Buffer.from(v, 'latin1'));
    else raw.push(key, Buffer.from(String(value), 'latin1'));
  }
  return raw;
}

/** What a request tells its pool. */
export interface StreamOwner {
  /** The stream has closed: its session has room for another. */
  streamClosed(session: ClientHttp2Session): void;
}

/**
 * One request on one HTTP/2 stream. The response head is handed over with a `resume`
 * that continues a paused body; completion is reported on the readable side's `end`, so
 * every data chunk — even one buffered while the caller had paused — comes before the
 * trailers (undici's HTTP/2 client reports trailers as they arrive and drops chunks still
 * buffered: a gRPC stream would lose its last messages under backpressure).
 */
export class H2Request {
  private stream: ClientHttp2Stream | null = null;
  private done = false;
  private responded = false;
  private trailers: Buffer[] | null = null;
  private timer: NodeJS.Timeout | null = null;
  private bodyIterator: AsyncIterator<unknown> | null = null;
  private readonly abort = (err?: Error): void => this.fail(err ?? h2Error('UND_ERR_ABORTED', 'Request aborted'), true);

  constructor(
    private readonly owner: StreamOwner,
    readonly options: StreamOptions,
    private readonly handler: StreamHandler,
    private readonly headersTimeoutMs: number,
    private readonly bodyTimeoutMs: number,
  ) {}

  get finished(): boolean {
    return this.done;
  }

  /** A stream was opened for it (the pool counts it until the stream closes). */
  get opened(): boolean {
    return this.stream !== null;
  }

  /** Fails the request before it got a stream (a refused connection, a closed pool). */
  reject(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.handler.onError?.(err);
  }

  /**
   * Opens the stream on `session`. Returns false when the session can take no stream any
   * more (it received GOAWAY): the pool places the request elsewhere.
   */
  start(session: ClientHttp2Session, scheme: 'http' | 'https', authority: string): boolean {
    if (this.done) return true;
    this.handler.onConnect?.(this.abort);
    if (this.done) return true; // cancelled by its caller in onConnect
    const body = this.options.body ?? null;
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(h2RequestHeaders(this.options, scheme, authority), { endStream: body === null });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ERR_HTTP2_GOAWAY_SESSION' || code === 'ERR_HTTP2_INVALID_SESSION') return false;
      // Node refuses a header it cannot send (an invalid value a middleware added): the
      // request cannot be forwarded as it is.
      this.fail(h2Error('UND_ERR_INVALID_ARG', (err as Error).message), false);
      return true;
    }
    this.stream = stream;
    stream.on('response', (headers) => this.onResponse(headers));
    stream.on('headers', (headers) => this.onInterim(headers));
    stream.on('trailers', (headers) => {
      this.trailers = flattenHeaders(headers);
    });
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('end', () => this.onEnd());
    stream.on('error', (err) => this.onStreamError(err));
    stream.on('close', () => this.onClose(session));
    if (body === null) this.armHeadersTimer();
    else this.writeBody(stream, body);
    return true;
  }

  private onResponse(headers: IncomingHttpHeaders): void {
    if (this.done) return;
    this.responded = true;
    this.clearTimer();
    const status = Number(headers[':status']);
    if (this.bodyTimeoutMs > 0) this.timer = setTimeout(() => this.onTimeout(), this.bodyTimeoutMs);
    const stream = this.stream!;
    const resume = (): void => {
      if (!this.done) stream.resume();
    };
    if (this.handler.onHeaders?.(status, flattenHeaders(headers), resume, '') === false && !this.done) stream.pause();
  }

  private onInterim(headers: IncomingHttpHeaders): void {
    const status = Number(headers[':status']);
    if (this.done || this.responded || !(status >= 100 && status < 200)) return;
    this.handler.onHeaders?.(status, flattenHeaders(headers), noop, '');
  }

  private onData(chunk: Buffer): void {
    if (this.done) return;
    this.timer?.refresh();
    if (this.handler.onData?.(chunk) === false && !this.done) this.stream!.pause();
  }

  private onEnd(): void {
    if (this.done) return;
    if (!this.responded) {
      this.fail(h2Error('UND_ERR_SOCKET', 'HTTP/2 stream ended without a response'), false);
      return;
    }
    this.done = true;
    this.clearTimer();
    this.handler.onComplete?.(this.trailers);
  }

  private onStreamError(err: Error): void {
    if (this.done) return;
    this.fail(this.describe(err), false);
  }

  private onClose(session: ClientHttp2Session): void {
    this.clearTimer();
    this.bodyIterator?.return?.().catch(noop);
    this.owner.streamClosed(session);
    if (!this.done) this.fail(this.describe(null), false);
  }

  /**
   * What a stream that failed means. A stream the target refused (REFUSED_STREAM), or one
   * past the last stream a GOAWAY said would be processed, was never handled: safe to
   * send again, like a connection that failed.
   */
  private describe(err: Error | null): Error {
    const stream = this.stream;
    const code = (err as { code?: string } | null)?.code;
    if (!this.responded && (stream?.rstCode === NGHTTP2_REFUSED_STREAM || code === 'ERR_HTTP2_GOAWAY_SESSION')) {
      return h2Error('UND_ERR_H2_REFUSED', 'the target refused the HTTP/2 stream before processing it');
    }
    const rst = stream?.rstCode;
    return h2Error('UND_ERR_SOCKET', `HTTP/2 stream closed${rst === undefined ? '' : ` with code ${rst}`}${err === null ? '' : ` (${err.message})`}`);
  }

  private onTimeout(): void {
    this.timer = null;
    if (this.done) return;
    if (this.responded) this.fail(h2Error('UND_ERR_BODY_TIMEOUT', `no response body data within ${this.bodyTimeoutMs}ms`), true);
    else this.fail(h2Error('UND_ERR_HEADERS_TIMEOUT', `no response headers within ${this.headersTimeoutMs}ms`), true);
  }

  /** The response timeout counts from the end of the request: a client stream may last long before the target answers. */
  private armHeadersTimer(): void {
    if (this.done || this.responded || this.headersTimeoutMs <= 0 || this.timer !== null) return;
    this.timer = setTimeout(() => this.onTimeout(), this.headersTimeoutMs);
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Ends the request with `err`; `cancel` resets the stream (the target learns that nobody waits any more). */
  private fail(err: Error, cancel: boolean): void {
    if (this.done) return;
    this.done = true;
    this.clearTimer();
    const stream = this.stream;
    if (stream !== null && !stream.destroyed && (cancel || !stream.closed)) stream.close(NGHTTP2_CANCEL);
    this.handler.onError?.(err);
  }

  private writeBody(stream: ClientHttp2Stream, body: NonNullable<StreamOptions['body']>): void {
    if (typeof body === 'string' || body instanceof Uint8Array) {
      stream.end(body);
      this.armHeadersTimer();
      return;
    }
    void this.pump(stream, body as AsyncIterable<Buffer>);
  }

  /**
   * Streams the request body with backpressure, full duplex: the response is read
   * meanwhile (a bidirectional gRPC stream answers while the client still sends). A
   * failing body (the client left, a size limit) fails the request with its error.
   */
  private async pump(stream: ClientHttp2Stream, body: AsyncIterable<Buffer>): Promise<void> {
    // The iterator is ended without destroying a readable source: an abandoned try must
    // not destroy the client's stream, which a retry may still read.
    const source = isReadable(body) ? (body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) : body;
    const iterator = source[Symbol.asyncIterator]();
    this.bodyIterator = iterator;
    try {
      for (;;) {
        const next = await iterator.next();
        if (next.done === true) break;
        if (this.done || stream.destroyed) return;
        if (!stream.write(next.value)) await drained(stream);
      }
      if (this.done || stream.destroyed) return;
      stream.end();
      this.armHeadersTimer();
    } catch (err) {
      if (!this.done) this.fail(err as Error, true);
    } finally {
      this.bodyIterator = null;
    }
  }
}

function isReadable(body: unknown): body is Readable {
  return typeof (body as Readable).iterator === 'function' && typeof (body as Readable).pipe === 'function';
}

function noop(): void {}
